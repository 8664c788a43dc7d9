"""The figures, checked as images: PNG of the fixed size (SIZES x DPI), not blank."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image
from tests.reports.conftest import make_study

from oligotrial.reports import build_report, figures, prepare_adam
from oligotrial.reports.figures import DPI, SIZES, draw_bed_histogram, draw_enrollment, draw_km

KINDS = {
    "consort": "consort",
    "km_pfs": "km",
    "km_os": "km",
    "km_dor": "km",
    "swimmer": "swimmer",
    "forest": "forest",
}


def _check(png: bytes, kind: str, path) -> None:
    path.write_bytes(png)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    width, height = SIZES[kind]
    assert image.size == (round(width * DPI), round(height * DPI))
    pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 5.0, "the figure is blank"
    assert (pixels < 128).mean() > 0.002, "the figure has almost no ink"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_worked_study_figures(worked_report, artifacts, name):
    png = worked_report.figures[name]
    assert isinstance(png, bytes), png
    _check(png, KINDS[name], artifacts / f"{name}.png")


def test_waterfall_and_spider_are_drawn_from_pchg(protocol, artifacts):
    subjects = [
        {"id": f"W{i:02d}", "arm": "CTRL" if i % 2 else "RT", "pfs": (100 + i, i % 2 == 0), "os": (200, False),
         "pchg": [(42, -10.0 * i + 15), (84, -12.0 * i + 20)]}
        for i in range(10)
    ]  # fmt: skip
    report = build_report(prepare_adam(make_study(subjects)), protocol)
    for name in ("waterfall", "spider"):
        png = report.figures[name]
        assert isinstance(png, bytes), png
        _check(png, name, artifacts / f"{name}.png")


def test_absent_figures_say_why(worked_report):
    assert "PCHG" in worked_report.figures["waterfall"]
    assert "--sdtm" in worked_report.figures["bed"]


def test_bed_histogram(artifacts):
    _check(draw_bed_histogram([72.0, 72.0, 43.2, 57.6, 48.0], 60.0), "bed", artifacts / "bed.png")


def test_figures_are_deterministic(worked_report):
    assert draw_km(worked_report.survival[0]) == worked_report.figures["km_pfs"]


def _chinese_enrollment() -> tuple[bytes, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = draw_enrollment(
            ["2024-01", "2024-02", "2024-03"],
            {"CN01": ([1, 3, 4], [0, 1, 3]), "CN02": ([0, 2, 2], [0, 0, 1])},
            title="各中心累计入组",
            ylabel="受试者",
            enrolled="入组",
            randomized="随机",
            empty="尚无受试者入组",
        )
    return png, [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_chinese_labels_are_drawn_with_a_cjk_font(artifacts):
    """The web pages' Chinese labels (the enrollment figure) need a CJK font: ``make system-deps`` installs
    one (``fonts-wqy-microhei``), as ``docs/administrator.md`` asks of a server; no glyph is missing."""
    png, missing = _chinese_enrollment()
    assert missing == []
    _check(png, "enrollment", artifacts / "enrollment_zh.png")


def test_a_cjk_font_installed_after_matplotlib_built_its_cache_is_found(monkeypatch):
    assert figures._cjk_font() in figures.CJK_FONTS, (
        "no CJK font (make system-deps installs fonts-wqy-microhei)"
    )
    listed = figures.font_manager.fontManager.ttflist
    cjk_files = {f.fname for f in listed if f.name in figures.CJK_FONTS}
    cached = [f for f in listed if f.fname not in cjk_files]  # as if installed after the cache was built
    monkeypatch.setattr(figures.font_manager.fontManager, "ttflist", cached)
    figures._cjk_font.cache_clear()
    try:
        assert figures._cjk_font() in figures.CJK_FONTS
        assert _chinese_enrollment()[1] == []
    finally:
        figures._cjk_font.cache_clear()
