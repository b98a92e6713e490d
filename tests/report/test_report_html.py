"""The HTML report renders in headless Chromium with no network; a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.report import build_report, parse_limits, render_html
from edgekit.report.synthetic import measurement, write_variant
from edgekit.results import load_results

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium)")


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def page(tmp_path) -> Path:
    out = tmp_path / "out"
    rows = [("float32", 820_000, 0.912, 31.0, []), ("fp16", 410_000, 0.911, 24.0, None), ("int8", 215_000, 0.905, 9.5, None),
            ("int8_pruned50", 214_000, 0.893, 9.1, None), ("int8_clustered16", 214_000, 0.887, 9.3, None),
            ("dynamic_range", 230_000, 0.908, 19.0, None), ("student_int8", 62_000, 0.861, 3.2, None),
            ("student_float", 240_000, 0.868, 7.5, None), ("int8_2of4", 216_000, 0.874, 9.6, None)]
    meas = []
    for name, size, acc, ms, chain in rows:
        write_variant(out, name, size, acc, chain=chain, baseline="float32")
        meas.append(measurement(name, ms, memory=8 + size / 40_000))
    write_variant(out, "int16x8", 300_000, 0.91, status="incompatible", reason="op FULLY_CONNECTED v11 not in tflite-runtime 2.14.0")
    rep = build_report(load_results(out, measurements=meas), limits=parse_limits(max_size="300kB", min_accuracy=0.88, max_latency="20ms"))
    path = tmp_path / "report.html"
    path.write_text(render_html(rep))
    return path


def test_html_renders_plots_in_chromium(page, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    if shot.exists():
        shot.unlink()
    r = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = r.stdout
    assert r.returncode == 0, r.stderr[-2000:]
    # the DOM Chromium built has both plots, with points, the front line and labels
    plots = re.findall(r'<svg class="plot" id="([^"]+)"', dom)
    assert plots == ["plot-size-accuracy", "plot-latency-accuracy"]
    for pid in plots:
        svg = dom.split(f'id="{pid}"', 1)[1].split("</svg>", 1)[0]
        assert svg.count("<circle") == 9
        assert svg.count('class="pt front') >= 3
        assert "<polyline" in svg and 'class="front-line"' in svg
        assert ">student_int8<" in svg and ">int8<" in svg
    assert 'id="recommendation"' in dom and "dynamic_range is the best accuracy" in dom
    assert "FULLY_CONNECTED v11" in dom
