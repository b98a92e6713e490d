"""Security checks (docs/faults.md): the emulator daemon listens on 127.0.0.1 only; a recipe cannot make
edgekit write outside --out; a budget file names no path edgekit writes to."""

from __future__ import annotations

import os

import pytest

from conftest import private_adb_server, run_edgekit


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} print them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            addr, hexport = parts[1].rsplit(":", 1)
            if int(hexport, 16) == port and parts[3] == "0A":   # 0A = LISTEN
                found.append(addr)
    return found


@pytest.mark.slow
def test_emulator_daemon_listens_on_loopback_only():
    from edgekit.emulator import image

    if os.geteuid() != 0 or not image.image_ready():
        pytest.skip("the emulated device needs root and its image")
    from edgekit import emulator
    from edgekit.emulator.control import free_port

    with private_adb_server():
        port = free_port()
        emulator.start("armv7-lowend", port=port, private=True)
        try:
            addrs = _listening(port)
            assert addrs and all(a == "0100007F" for a in addrs), addrs    # 127.0.0.1, never 0.0.0.0 or ::
        finally:
            emulator.stop(port)


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped", "a/../../escaped", "..", ".hidden", "x; rm -rf ~"])
def test_a_recipe_cannot_name_a_variant_outside_out(tmp_path, name):
    rec = tmp_path / "r.toml"
    rec.write_text(f'[[variant]]\nname = "{name}"\nchain = []\n')
    r = run_edgekit("optimize", "--recipe", rec, "--out", tmp_path / "out")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert r.returncode == 2 and len(lines) == 1 and "not a safe folder name" in lines[0], r.stderr[-2000:]
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out" / "variants").exists()


def test_a_budget_file_has_no_key_that_names_an_output_path():
    from edgekit.gate import config

    rule_keys = set(config.METRIC_LIMITS) | set(config.DEFAULT_KEYS) | {"variants"}
    assert rule_keys and not {k for k in rule_keys if any(w in k for w in ("path", "file", "dir", "out"))}
