"""The device runtime on a device: is the bundle there, push it once, start its Python.

A phone has no python3, so the python runner brings one (:mod:`edgekit.emulator.bundle`): the
bundle is pushed once per device to ``/data/local/tmp/edgekit/<sha256[:16]>/`` as one archive,
checked on the device by its sha256 (``sha256sum``), unpacked there with the device's own
``gzip`` and ``tar`` (toybox on a phone) into a temporary directory that is renamed into place
only once complete, and marked ``.ready`` with the full hash; every later bench finds the mark
and pushes nothing. ``edgekit devices --clean`` removes it (:func:`clean`).

Before pushing, one line (exit 2) for a device that cannot take it: not 32-bit-capable ARM, not
enough free space in ``/data/local/tmp``, or refusing to execute programs there. A push that fails
half-way removes what it wrote.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from edgekit.adb import DeviceLost, shell_join
from edgekit.bench.device import ARM32_ABIS, REMOTE_ROOT, remote
from edgekit.errors import EdgekitError

TMP = "/data/local/tmp"
READY = ".ready"
MARGIN_BYTES = 4 << 20          # room left over for models, evaluation inputs and predictions
ABI_HINT = "edgekit's device runtime is armeabi-v7a: use a 32-bit ARM phone (or an arm64 phone that lists armeabi-v7a)"
REPORT_HINT = "see docs/real-phones.md (what to run and report)"


@dataclass
class DeviceRuntime:
    """The bundle unpacked on one device: where, which, and the command that starts its Python."""

    serial: str
    dir: str
    sha256: str
    python: str
    numpy: str
    tflite_runtime: str
    pushed: bool = False           # pushed by this call (False: it was already there)
    push_seconds: float | None = None
    size_bytes: int | None = None

    def python_argv(self) -> list[str]:
        from edgekit.emulator.bundle import python_argv

        return python_argv(self.dir)

    def info(self) -> dict[str, Any]:
        """What each Measurement records of it (``device.runtime``)."""
        return {"bundle": self.sha256, "bundle_dir": self.dir, "python": self.python, "numpy": self.numpy,
                "tflite_runtime": self.tflite_runtime}


def runtime_dir(sha256: str) -> str:
    return remote(sha256[:16])


def is_arm32_capable(info: dict[str, Any]) -> bool:
    abis = [a.strip() for a in (info.get("abilist") or "").split(",") if a.strip()] + [info.get("abi") or ""]
    if any(a in ARM32_ABIS for a in abis):
        return True
    if not any(abis):   # no Android properties: the kernel's machine name
        return (info.get("machine") or "").startswith("armv")
    return False


def check_arm(dev: Any) -> None:
    info = dev.info or dev.describe()
    if not is_arm32_capable(info):
        raise EdgekitError(f"device {dev.serial} is not a 32-bit-capable ARM device (ABIs: "
                           f"{info.get('abilist') or info.get('abi') or '?'}; machine {info.get('machine') or '?'})",
                           ABI_HINT)


def free_bytes(dev: Any, path: str = TMP) -> int | None:
    """Free bytes in ``path``'s filesystem (``df -k``), None when ``df`` says nothing readable."""
    r = dev.shell(f"df -k {shell_join([path])}", timeout=60)
    for line in reversed(r.stdout.strip().splitlines()):
        f = line.split()
        if len(f) >= 4 and f[3].isdigit():
            return int(f[3]) * 1024
    return None


def _no_space(dev: Any, need: int, free: int | None) -> EdgekitError:
    has = f"{free / 1e6:.1f} MB free" if free is not None else "too little space"
    return EdgekitError(f"device {dev.serial} has {has} in {TMP}; edgekit's device runtime needs "
                        f"{need / 1e6:.1f} MB there (archive + unpacked)",
                        f"free space in {TMP} (adb -s {dev.serial} shell du -sh {TMP}/*) and re-run")


def installed(dev: Any, sha256: str) -> bool:
    r = dev.shell(f"cat {shell_join([runtime_dir(sha256) + '/' + READY])} 2>/dev/null", timeout=60)
    return r.returncode == 0 and r.stdout.strip() == sha256


def _fail(dev: Any, what: str, out: str, need: int) -> EdgekitError:
    text = " ".join(out.split())[:200]
    if re.search(r"No space left|ENOSPC|write error|Disk quota", out, re.I):
        return _no_space(dev, need, free_bytes(dev))
    return EdgekitError(f"device {dev.serial}: {what} failed: {text or '(no output)'}", REPORT_HINT)


def install(dev: Any, bundle: Any, on_progress: Callable[[float], None] | None = None) -> float:
    """Push, verify and unpack ``bundle`` on ``dev``; returns the seconds it took. Leaves nothing half."""
    d = runtime_dir(bundle.sha256)
    need = bundle.size_bytes + bundle.unpacked_bytes + MARGIN_BYTES
    free = free_bytes(dev)
    if free is not None and free < need:
        raise _no_space(dev, need, free)
    part_archive, part_dir = f"{REMOTE_ROOT}/.{bundle.short}.tar.gz.part", f"{REMOTE_ROOT}/.{bundle.short}.part"
    q = shell_join
    t0 = time.perf_counter()
    cleanup = f"rm -rf {q([part_dir])} {q([part_archive])}"
    try:
        r = dev.shell(f"mkdir -p {q([REMOTE_ROOT])} && {cleanup}", timeout=120)
        if r.returncode != 0:
            raise _fail(dev, f"creating {REMOTE_ROOT}", r.output, need)
        sent = [0]

        def counted(n: int) -> None:
            sent[0] += n
            if on_progress:
                on_progress(min(1.0, sent[0] / max(1, bundle.size_bytes)))

        try:
            dev.push(bundle.path, part_archive, on_bytes=counted)
        except DeviceLost as exc:
            if dev.state() != "device":
                raise
            dev.shell(cleanup, timeout=120)   # what counts is the space without the partial archive
            left = free_bytes(dev)
            if left is not None and left < need:
                raise _no_space(dev, need, left) from None
            raise EdgekitError(f"device {dev.serial}: pushing the runtime to {TMP} failed: {exc.detail}",
                               REPORT_HINT) from None
        r = dev.shell(f"sha256sum {q([part_archive])}", timeout=300)
        got = (r.stdout.split() or [""])[0]
        if got != bundle.sha256:
            raise EdgekitError(f"device {dev.serial}: the pushed runtime archive has sha256 {got[:16] or '?'}, "
                               f"not {bundle.short} (the transfer corrupted it, or no sha256sum on the device)",
                               "re-run; if it repeats, " + REPORT_HINT)
        unpack = (f"mkdir {q([part_dir])} && cd {q([part_dir])} && gzip -dc {q([part_archive])} | tar -xf - "
                  f"&& [ -f BUNDLE.json ] && echo {bundle.sha256} > {READY} && cd / && rm -rf {q([d])} "
                  f"&& mv {q([part_dir])} {q([d])} && rm -f {q([part_archive])}")
        r = dev.shell(unpack + " 2>&1", timeout=900)
        if r.returncode != 0:
            dev.shell(cleanup, timeout=120)   # (the free space is then measured without the partial unpack)
            raise _fail(dev, "unpacking the runtime", r.output, need)
    except BaseException:
        try:
            dev.shell(cleanup, timeout=120)
        except Exception:  # noqa: BLE001 - the device may be gone: the next push starts clean anyway
            pass
        raise
    return time.perf_counter() - t0


PROBE = "import sys, numpy, tflite_runtime.interpreter; print('EDGEKIT_RUNTIME', sys.version.split()[0])"


def check_runs(dev: Any, d: str) -> None:
    """The bundle's Python starts on the device: else one line (no exec in /data/local/tmp, ...)."""
    from edgekit.emulator.bundle import python_argv

    r = dev.shell(shell_join([*python_argv(d), "-c", PROBE]) + " 2>&1", timeout=300)
    if r.returncode != 0 or "EDGEKIT_RUNTIME" not in r.stdout:
        raise does_not_start(dev, r.returncode, r.output)


def does_not_start(dev: Any, code: int, output: str) -> EdgekitError:
    """Why the runtime's Python did not start, in one line."""
    out = " ".join(output.split())[:200]
    if code == 126 or re.search(r"Permission denied|not permitted|noexec", out, re.I):
        return EdgekitError(f"device {dev.serial} refuses to execute programs in {TMP} ({out or 'exit 126'})",
                            REPORT_HINT)
    if re.search(r"Exec format error|not executable|syntax error", out, re.I):
        return EdgekitError(f"device {dev.serial} cannot run armeabi-v7a programs ({out})", ABI_HINT)
    return EdgekitError(f"device {dev.serial}: edgekit's device runtime does not start (exit {code}): {out}",
                        REPORT_HINT + ", or use --runner benchmark_model")


def ensure(dev: Any, show: bool = False) -> DeviceRuntime:
    """The bundle on ``dev``, pushed when missing; ``show``: a progress bar on a terminal (else one
    plain line) and one line of what the push cost, on stderr."""
    from edgekit.emulator.bundle import load_bundle

    check_arm(dev)
    b = load_bundle()
    d = runtime_dir(b.sha256)
    rt = DeviceRuntime(dev.serial, d, b.sha256, b.python, b.numpy, b.tflite_runtime, size_bytes=b.size_bytes)
    if not installed(dev, b.sha256):
        from edgekit.progress import StepProgress

        what = f"pushing edgekit's device runtime ({b.size_bytes / 1e6:.1f} MB)"
        with StepProgress("device runtime", total=1, enabled=show) as prog:
            prog.status(dev.serial, what, 0.0)
            rt.push_seconds = install(dev, b, lambda f: prog.status(dev.serial, what, f))
            rt.pushed = True
            check_runs(dev, d)
            prog.done(dev.serial, f"device runtime {b.short} pushed: {b.size_bytes / 1e6:.1f} MB in "
                                  f"{rt.push_seconds:.1f} s, kept in {d} (edgekit devices --clean removes it)")
    dev.runtime = rt
    return rt


def status(dev: Any) -> str:
    """``present`` / ``missing`` / ``not built`` (no bundle on this host) for ``edgekit devices``."""
    from edgekit.emulator.bundle import load_bundle

    try:
        b = load_bundle()
    except EdgekitError:
        return "not built"
    return "present" if installed(dev, b.sha256) else "missing"


def clean(dev: Any) -> int:
    """Remove everything edgekit put on ``dev`` (``/data/local/tmp/edgekit``); returns the bytes freed."""
    r = dev.shell(f"du -sk {shell_join([REMOTE_ROOT])} 2>/dev/null", timeout=120)
    kb = int(r.stdout.split()[0]) if r.returncode == 0 and r.stdout.split() and r.stdout.split()[0].isdigit() else 0
    r = dev.shell(f"rm -rf {shell_join([REMOTE_ROOT])}", timeout=300)
    if r.returncode != 0:
        raise EdgekitError(f"cannot remove {REMOTE_ROOT} on {dev.serial}: {' '.join(r.output.split())[:200]}")
    return kb * 1024
