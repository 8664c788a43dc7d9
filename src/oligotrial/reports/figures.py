"""The report's figures, drawn with matplotlib's Agg backend into PNG bytes of a fixed size.

Every figure is ``size`` inches at :data:`DPI` dots per inch, saved without tight bounding boxes, so its pixel
size is exactly ``size * DPI`` (tests assert it). PNG metadata carry no software version or date, so the same
data give the same bytes.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from oligotrial.reports.tables import (
    ArmInfo,
    Consort,
    SubgroupRow,
    SurvivalSummary,
    longest_swimmers,
)

__all__ = [
    "ARM_COLOURS",
    "DPI",
    "SIZES",
    "draw_bed_histogram",
    "draw_consort",
    "draw_enrollment",
    "draw_forest",
    "draw_km",
    "draw_spider",
    "draw_swimmer",
    "draw_waterfall",
    "figure_png",
]

DPI = 100
#: Figure sizes in inches (width, height); pixels are these times :data:`DPI`.
SIZES: dict[str, tuple[float, float]] = {
    "consort": (9.0, 7.5),
    "km": (8.0, 6.0),
    "forest": (9.0, 6.0),
    "waterfall": (8.0, 4.5),
    "swimmer": (8.0, 7.5),
    "spider": (8.0, 4.5),
    "bed": (7.0, 4.0),
    "enrollment": (8.0, 4.5),
}
#: Font families tried, in order, for text outside Latin script (the Chinese of the web pages).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
ARM_COLOURS = ("#1f5fa8", "#c0392b", "#7f7f7f")
_MAX_SWIMMERS = 80


def _colour(index: int) -> str:
    return ARM_COLOURS[min(index, len(ARM_COLOURS) - 1)]


def _arm_colours(arms: Sequence[ArmInfo]) -> dict[str, str]:
    return {a.code: _colour(i) for i, a in enumerate(arms)}


def figure_png(fig: Figure) -> bytes:
    """Save ``fig`` as PNG at :data:`DPI` (no tight box: the size is the figure's) and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _new(kind: str) -> Figure:
    fig = plt.figure(figsize=SIZES[kind], dpi=DPI)
    return fig


def draw_km(summary: SurvivalSummary, *, xlabel: str = "Months", step: float | None = None) -> bytes:
    """Kaplan–Meier curves by arm with censor marks (+) and the numbers at risk under the axis."""
    fig = _new("km")
    ax = fig.add_axes((0.1, 0.34, 0.86, 0.58))
    table = fig.add_axes((0.1, 0.04, 0.86, 0.16))
    arms = [a.arm for a in summary.arms]
    colours = _arm_colours(arms)
    horizon = max([float(a.curve.time[-1]) for a in summary.arms if a.curve is not None] or [1.0])
    if step is None:
        step = next(s for s in (1, 2, 3, 6, 12, 24, 48) if horizon / s <= 8)
    ticks = np.arange(0.0, horizon + step, step)
    for a in summary.arms:
        if a.curve is None:
            continue
        times = np.concatenate([[0.0], a.curve.time])
        surv = np.concatenate([[1.0], a.curve.surv])
        ax.step(
            times,
            surv,
            where="post",
            color=colours[a.arm.code],
            label=f"{a.arm.label} (n={a.n}, events={a.events})",
        )
        if a.censor_times:
            idx = np.searchsorted(a.curve.time, np.asarray(a.censor_times), side="right") - 1
            ax.plot(
                a.censor_times,
                a.curve.surv[np.clip(idx, 0, None)],
                "+",
                color=colours[a.arm.code],
                ms=9,
                mew=1.5,
            )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, ticks[-1])
    ax.set_xticks(ticks)
    ax.set_ylabel("Probability")
    ax.set_xlabel(xlabel)
    ax.set_title(summary.title, fontsize=11)
    ax.grid(alpha=0.3)
    if any(a.curve is not None for a in summary.arms):
        ax.legend(loc="lower left", fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no subjects", ha="center", va="center", transform=ax.transAxes)
    table.set_xlim(ax.get_xlim())
    table.set_ylim(-0.5, len(arms) - 0.5)
    table.axis("off")
    table.text(
        0,
        len(arms) - 0.3,
        "Number at risk",
        fontsize=8,
        fontweight="bold",
        va="bottom",
        transform=table.transData,
    )
    for row, a in enumerate(summary.arms):
        y = len(arms) - 1 - row
        table.text(
            -0.04,
            y,
            a.arm.code,
            ha="right",
            va="center",
            fontsize=8,
            color=colours[a.arm.code],
            transform=table.get_yaxis_transform(),
        )
        for t in ticks:
            n = 0 if a.curve is None else _at_risk(a.curve.time, a.curve.n_risk, t)
            table.text(t, y, str(n), ha="center", va="center", fontsize=8)
    return figure_png(fig)


def _at_risk(time: np.ndarray, n_risk: np.ndarray, t: float) -> int:
    """Subjects still at risk at time ``t`` (followed for at least ``t``): the number at risk at the first
    curve time at or after ``t``."""
    later = time >= t
    if not later.any():
        return 0
    return int(n_risk[np.argmax(later)])


def draw_forest(rows: Sequence[SubgroupRow], arms: Sequence[ArmInfo]) -> bytes:
    """Forest plot of subgroup hazard ratios on a log scale; a "not estimable" row shows its reason."""
    fig = _new("forest")
    ax = fig.add_axes((0.28, 0.1, 0.28, 0.82))
    n = len(rows)
    ax.set_ylim(-0.5, max(n, 1) - 0.5)
    ax.invert_yaxis()
    finite = [v for r in rows if r.hr.value is not None for v in (r.hr.lower, r.hr.upper, r.hr.value) if v]
    low = min([0.1, *finite]) if finite else 0.1
    high = max([10.0, *finite]) if finite else 10.0
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(max(low / 1.5, 1e-3), min(high * 1.5, 1e3))
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks([])
    ax.set_xlabel(f"Hazard ratio ({arms[-1].code} vs {arms[0].code})")
    ax.set_title("Progression-free survival by subgroup", fontsize=11)
    for i, r in enumerate(rows):
        label = r.variable if r.level == "all" else f"{r.variable}: {r.level}"
        counts = " / ".join(f"{r.events[a.code]}/{r.n[a.code]}" for a in arms)
        ax.text(-0.02, i, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8)
        ax.text(1.02, i, counts, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=8)
        if r.hr.value is None:
            ax.text(
                1.55,
                i,
                f"not estimable: {r.hr.reason}",
                transform=ax.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize=7,
                color="#555555",
            )
            continue
        lo = r.hr.lower if r.hr.lower is not None else ax.get_xlim()[0]
        hi = r.hr.upper if r.hr.upper is not None else ax.get_xlim()[1]
        ax.plot([lo, hi], [i, i], color="black", lw=1)
        ax.plot([r.hr.value], [i], "s", color="#333333", ms=6)
        ax.text(
            1.55,
            i,
            f"{r.hr.value:.2f} ({lo:.2f}–{hi:.2f})",
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=8,
        )
    ax.text(
        1.02,
        -0.04,
        "events/n " + " / ".join(a.code for a in arms),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=7,
    )
    return figure_png(fig)


def draw_waterfall(changes: pl.DataFrame, arms: Sequence[ArmInfo]) -> bytes:
    """Best (lowest) percent change of the sum of diameters per subject, sorted, coloured by arm, with the
    RECIST +20% and −30% lines."""
    best = (
        changes.group_by("USUBJID")
        .agg(pl.col("PCHG").min(), pl.col("_ARM").first())
        .sort("PCHG", descending=True)
    )
    colours = _arm_colours(arms)
    fig = _new("waterfall")
    ax = fig.add_axes((0.1, 0.12, 0.86, 0.78))
    values = best.get_column("PCHG").to_numpy()
    bar_colours = [colours.get(str(a), _colour(2)) for a in best.get_column("_ARM").to_list()]
    ax.bar(np.arange(values.size), values, color=bar_colours, width=0.8)
    ax.axhline(20, color="#555555", ls="--", lw=0.8)
    ax.axhline(-30, color="#555555", ls="--", lw=0.8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks([])
    ax.set_ylabel("Best change in sum of diameters (%)")
    ax.set_xlabel("Subjects")
    ax.set_title("Waterfall plot: best percent change from baseline", fontsize=11)
    ax.legend(handles=[Patch(color=colours[a.code], label=a.label) for a in arms], fontsize=8, frameon=False)
    return figure_png(fig)


def draw_spider(changes: pl.DataFrame, arms: Sequence[ArmInfo]) -> bytes:
    """Percent change of the sum of diameters over time (months from the first dose), one line per subject."""
    colours = _arm_colours(arms)
    fig = _new("spider")
    ax = fig.add_axes((0.1, 0.12, 0.86, 0.78))
    for (subject,), frame in changes.sort("USUBJID", "MONTHS").group_by(["USUBJID"], maintain_order=True):
        del subject
        months = np.concatenate([[0.0], frame.get_column("MONTHS").fill_null(np.nan).to_numpy()])
        values = np.concatenate([[0.0], frame.get_column("PCHG").to_numpy()])
        arm = str(frame.get_column("_ARM")[0])
        ax.plot(months, values, marker="o", ms=3, lw=1, color=colours.get(arm, _colour(2)), alpha=0.8)
    ax.axhline(20, color="#555555", ls="--", lw=0.8)
    ax.axhline(-30, color="#555555", ls="--", lw=0.8)
    ax.set_xlabel("Months from first dose")
    ax.set_ylabel("Change in sum of diameters (%)")
    ax.set_title("Spider plot", fontsize=11)
    for a in arms:
        ax.plot([], [], color=colours[a.code], label=a.label)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    return figure_png(fig)


def draw_swimmer(swimmer: pl.DataFrame, arms: Sequence[ArmInfo]) -> bytes:
    """Treatment duration per subject (bars, coloured by arm) with first response (▲), progression (●),
    death (✕) and radiotherapy (thick segment); grouped by arm, the longest first; of more than 80 subjects,
    the 80 longest (whatever their arm), as the title says."""
    colours = _arm_colours(arms)
    fig = _new("swimmer")
    ax = fig.add_axes((0.17, 0.16, 0.79, 0.78))
    frame = longest_swimmers(swimmer, _MAX_SWIMMERS)
    n = frame.height
    rows = frame.to_dicts()
    for i, r in enumerate(rows):
        colour = colours.get(str(r["_ARM"]), _colour(2))
        ax.barh(i, r["DURATION"] or 0.0, color=colour, height=0.6, alpha=0.75)
        if r["RTSTART"] is not None:
            end = r["RTEND"] if r["RTEND"] is not None else r["RTSTART"]
            ax.plot([r["RTSTART"], end + 0.05], [i, i], color="#f1c40f", lw=4, solid_capstyle="butt")
        if r["RESPONSE"] is not None:
            ax.plot(r["RESPONSE"], i, "^", color="#27ae60", ms=6)
        if r["PROGRESSION"] is not None:
            ax.plot(r["PROGRESSION"], i, "o", color="black", ms=5)
        if r["DEATH"] is not None:
            ax.plot(r["DEATH"], i, "x", color="#8e44ad", ms=6, mew=1.5)
    ax.set_ylim(-0.7, max(n, 1) - 0.3)
    ax.invert_yaxis()
    ax.set_yticks(range(n))
    ax.set_yticklabels([str(r["USUBJID"]) for r in rows], fontsize=max(4, min(8, int(400 / max(n, 1)))))
    ax.set_xlabel("Months from first dose")
    shown = "" if n == swimmer.height else f" (the {n} longest of {swimmer.height} subjects)"
    ax.set_title(f"Swimmer plot: treatment duration and events{shown}", fontsize=11)
    handles: list[Artist] = [Patch(color=colours[a.code], alpha=0.75, label=a.label) for a in arms]
    handles.append(Patch(color=_colour(len(arms)), alpha=0.75, label="not randomized"))
    handles += [
        Line2D([], [], ls="", marker="^", color="#27ae60", label="first response (CR/PR)"),
        Line2D([], [], ls="", marker="o", color="black", label="progression"),
        Line2D([], [], ls="", marker="x", color="#8e44ad", label="death"),
        Line2D([], [], color="#f1c40f", lw=4, label="radiotherapy"),
    ]
    # under the axis (not over the bars): arms on one row, the markers on the next
    ax.legend(
        handles=handles, fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=4
    )
    return figure_png(fig)


def draw_bed_histogram(beds: Sequence[float], threshold: float) -> bytes:
    """Distribution of BED10 over the radiotherapy courses with the recommended threshold."""
    fig = _new("bed")
    ax = fig.add_axes((0.1, 0.14, 0.86, 0.76))
    values = np.asarray(beds, dtype=float)
    if values.size:
        width = 5.0
        start = math.floor(values.min() / width) * width
        stop = math.ceil(values.max() / width) * width + width
        ax.hist(
            values,
            bins=np.arange(start, stop + width / 2, width).tolist(),
            color="#1f5fa8",
            edgecolor="white",
        )
    ax.axvline(threshold, color="#c0392b", ls="--", lw=1, label=f"recommended BED10 > {threshold:g} Gy")
    ax.set_xlabel("BED10 (Gy)")
    ax.set_ylabel("Courses")
    ax.set_title("BED10 of the radiotherapy courses", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return figure_png(fig)


def draw_consort(consort: Consort) -> bytes:
    """The CONSORT flow diagram: boxes from screening to analysis, one column per arm after randomization."""
    fig = _new("consort")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")

    def box(x: float, y: float, text: str, width: float = 0.36) -> None:
        height = max(0.09, 0.017 * (text.count("\n") + 1) + 0.02)  # five lines fit the usual height
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.005",
                fc="#f4f6f8",
                ec="#333333",
                lw=0.8,
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=8, wrap=True)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "lw": 0.8})

    box(0.5, 0.93, f"Screened (consented)\nn = {consort.screened}")
    excluded = "".join(
        "\n" + textwrap.fill(f"{r}: {k}", 40, subsequent_indent="  ")
        for r, k in consort.not_enrolled_reasons[:3]
    )
    box(0.85, 0.83, f"Not enrolled\nn = {consort.not_enrolled}{excluded}", 0.28)
    arrow(0.5, 0.885, 0.5, 0.775)
    arrow(0.5, 0.83, 0.72, 0.83)
    box(0.5, 0.73, f"Enrolled: induction chemo-immunotherapy\nn = {consort.enrolled}")
    reasons = "".join(f"\n{r}: {k}" for r, k in consort.not_randomized_reasons[:3])
    box(
        0.85,
        0.62,
        f"Not randomized\nprogressed during induction: {consort.induction_progression}\n"
        f"other: {consort.not_randomized_other}{reasons}",
        0.28,
    )
    arrow(0.5, 0.685, 0.5, 0.575)
    arrow(0.5, 0.62, 0.71, 0.62)
    total = sum(consort.randomized.values())
    box(0.5, 0.53, f"Randomized\nn = {total}")
    xs = [0.25, 0.75] if len(consort.arms) == 2 else list(np.linspace(0.2, 0.8, len(consort.arms)))
    for x, arm in zip(xs, consort.arms, strict=True):
        arrow(0.5, 0.485, x, 0.445)
        code = arm.code
        box(x, 0.40, f"{arm.label}\nrandomized n = {consort.randomized[code]}", 0.4)
        box(
            x,
            0.28,
            f"treated after randomization: {consort.treated[code]}\nradiotherapy received: {consort.radiotherapy[code]}",
            0.4,
        )
        reasons = ", ".join(f"{r} {k}" for r, k in consort.discontinued_reasons[code][:3])
        box(x, 0.16, f"discontinued: {consort.discontinued[code]}" + (f"\n{reasons}" if reasons else ""), 0.4)
        box(x, 0.05, f"analysed (PFS, ITT): {consort.analysed[code]}", 0.4)
        arrow(x, 0.355, x, 0.325)
        arrow(x, 0.235, x, 0.205)
        arrow(x, 0.115, x, 0.095)
    return figure_png(fig)


def _families(texts: Sequence[str]) -> list[str] | None:
    """Font families able to draw ``texts``: ``None`` (matplotlib's default) for ASCII text, else the default
    sans-serif font followed by the first installed font of :data:`CJK_FONTS` (glyph fallback)."""
    if all(text.isascii() for text in texts):
        return None
    cjk = _cjk_font()
    return [*plt.rcParams["font.sans-serif"][:1], *([cjk] if cjk else [])]


@functools.cache
def _cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, ``None`` when there is none.

    Notes
    -----
    matplotlib lists the fonts of its cache, built the first time it ran on the machine; a font installed
    since (the Debian package ``fonts-wqy-microhei`` that ``docs/administrator.md`` asks for) is not in it,
    so the system's font folders are then read once and their fonts added.
    """

    def listed() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in names), None)

    if (found := listed()) is not None:
        return found
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read: not a font for us
                continue
    return listed()


def draw_enrollment(
    months: Sequence[str],
    sites: Mapping[str, tuple[Sequence[int], Sequence[int]]],
    *,
    title: str = "Cumulative enrollment by site",
    ylabel: str = "Subjects",
    enrolled: str = "enrolled",
    randomized: str = "randomized",
    empty: str = "no subject enrolled",
) -> bytes:
    """Cumulative enrolled (solid) and randomized (dashed) subjects per site at the end of each month.

    Parameters
    ----------
    months
        The months of the x axis (``YYYY-MM``), in order.
    sites
        Site code -> (cumulative enrolled, cumulative randomized), one count per month.
    title, ylabel, enrolled, randomized, empty
        The texts of the figure (translated by the caller; Chinese text is drawn with an installed CJK font).
    """
    families = _families([title, ylabel, enrolled, randomized, empty])
    font = {"family": families} if families else {}
    fig = _new("enrollment")
    ax = fig.add_axes((0.09, 0.16, 0.7, 0.74))
    x = np.arange(len(months))
    drawn = False
    for index, (site, (enrolled_counts, randomized_counts)) in enumerate(sorted(sites.items())):
        if not months:
            break
        colour = plt.get_cmap("tab10")(index % 10)
        ax.plot(x, enrolled_counts, color=colour, lw=1.6, marker="o", ms=4, label=f"{site} {enrolled}")
        ax.plot(
            x,
            randomized_counts,
            color=colour,
            lw=1.2,
            ls="--",
            marker="s",
            ms=3,
            label=f"{site} {randomized}",
        )
        drawn = True
    if drawn:
        step = max(1, math.ceil(len(months) / 12))
        ax.set_xticks(x[::step], [months[i] for i in range(0, len(months), step)], rotation=45, ha="right")
        ax.set_xlim(-0.3, max(len(months) - 0.7, 0.7))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, prop=font or None)
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, fontdict=font or None)
    ax.set_ylabel(ylabel, fontdict=font or None)
    ax.set_title(title, fontsize=11, fontdict=font or None)
    ax.grid(alpha=0.3)
    return figure_png(fig)
