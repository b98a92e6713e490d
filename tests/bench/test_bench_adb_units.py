"""edgekit.adb without a device: the description parser on synthetic probe output, and the one-line
error of a core install (no adbutils). The layer against a real adb server and device is tested in
test_bench_emulator.py."""

import os
import subprocess
import sys

from edgekit.adb import PROPS, ListedDevice, parse_description

SEP = "@@EDGEKIT@@"


def test_description_from_the_probe_output():
    values = ["armeabi-v7a", "armeabi-v7a,armeabi", "27", "8.1.0", "Phone X", "ACME", "px", "qcom", "R58M12ABCDE"]
    text = "".join(f"{v}\n{SEP}\n" for v in values) + f"4\n{SEP}\nMemTotal:        1898304 kB\n{SEP}\narmv7l\n"
    d = parse_description("0123", text)
    assert d == {"serial": "0123", **dict(zip(PROPS, values)), "cores": 4, "ram_mb": 1854, "machine": "armv7l"}


def test_missing_properties_and_a_short_answer_are_none_not_errors():
    text = f"\n{SEP}\n" * 3
    d = parse_description("s", text)
    assert d["abi"] is None and d["cores"] is None and d["ram_mb"] is None and d["machine"] is None
    assert set(d) == {"serial", *PROPS, "cores", "ram_mb", "machine"}


def test_listed_device_as_dict():
    assert ListedDevice("s", "offline").as_dict() == {"serial": "s", "state": "offline", "description": None, "error": None}


def test_without_adbutils_devices_is_one_line_naming_the_extra(tmp_path):
    shadow = tmp_path / "adbutils"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not installed in this environment')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "edgekit.cli", "devices"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "needs the bench extra: pip install 'edgekit[bench]'" in r.stderr and "adbutils" in r.stderr
