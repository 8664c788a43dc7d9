"""The figures, checked as images: PNG of the fixed size (SIZES x DPI), not blank."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.reports.conftest import make_study

from oligotrial.reports import build_report, prepare_adam
from oligotrial.reports.figures import DPI, SIZES, draw_bed_histogram, draw_km

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
