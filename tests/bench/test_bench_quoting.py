"""Every argument sent through `adb shell` is quoted: checked here against a real POSIX sh."""

import subprocess

import pytest

from edgekit.adb import shell_join
from edgekit.bench.runner import remote_model_name
from edgekit.bench.targets import Target

NASTY = [
    "x; rm -rf /data;.tflite",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'b\"c",
    "new\nline",
    "&& || | > < * ? ~ # !",
    "--graph=/data/local/tmp/edgekit/models/ab/x; rm -rf ..;.tflite",
    "",
    " leading space",
]


@pytest.mark.parametrize("arg", NASTY)
def test_shell_join_round_trips_through_sh(arg, tmp_path):
    cmd = shell_join(["printf", "%s\\0", arg, "second"])
    out = subprocess.run(["sh", "-c", cmd], cwd=tmp_path, capture_output=True, timeout=10).stdout
    assert out.split(b"\0")[:-1] == [arg.encode(), b"second"]
    assert not list(tmp_path.iterdir())        # nothing was created


def test_remote_model_name_keeps_the_name_and_never_a_slash(tmp_path):
    t = Target("x; rm -rf ..", tmp_path / "model.tflite", "a" * 64, 1)
    assert remote_model_name(t) == "x; rm -rf ...tflite"
    assert remote_model_name(Target("a.tflite", tmp_path / "m", "a" * 64, 1)) == "a.tflite"
    assert remote_model_name(Target("..", tmp_path / "m", "a" * 64, 1)) == "model.tflite"
    assert "/" not in remote_model_name(Target("a/b", tmp_path / "m", "a" * 64, 1))
