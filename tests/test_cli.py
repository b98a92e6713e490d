"""The CLI surface: every command has --help with an example; usage errors are one line, exit 2."""

import subprocess
import sys

import pytest

COMMANDS = [["optimize"], ["bench"], ["report"], ["gate"], ["devices"], ["emulator", "start"],
            ["emulator", "stop"], ["emulator", "status"], ["emulator", "build"]]


def edgekit(*args):
    return subprocess.run([sys.executable, "-m", "edgekit.cli", *args], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": "/root"})


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_help_has_an_example(cmd):
    proc = edgekit(*cmd, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout or "example" in proc.stdout, proc.stdout
    assert "edgekit " + cmd[0] in proc.stdout


def test_bare_command_prints_help():
    proc = edgekit()
    assert proc.returncode == 0 and "optimize" in proc.stdout and "Traceback" not in proc.stderr


def test_unknown_option_is_a_usage_error():
    proc = edgekit("optimize", "--bogus")
    assert proc.returncode == 2
    assert "No such option" in proc.stderr and "Traceback" not in proc.stderr


def test_version():
    proc = edgekit("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("edgekit ")
