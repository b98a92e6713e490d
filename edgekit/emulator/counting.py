"""Counted runs on the emulated device: guest instructions by class, between guest-set marks.

The plugin (``plugin/insn_count.c`` + ``plugin/classify.h``) is compiled with gcc into
``${EDGEKIT_CACHE:-~/.cache/edgekit}/plugins/<hash of the sources>.so`` (``build_plugin``; the
set-up does it, the device daemon does it on demand) and loaded by Debian's *dynamic* ``qemu-arm``
(package ``qemu-user``) — the static ``qemu-arm-static`` that chroot + binfmt uses cannot load
plugins.

The counted execution route: an ``adb shell`` command that is exactly ::

    edgekit-counted [--out GUEST_FILE] [--cwd GUEST_DIR] [--cpu-check] -- PROGRAM ARGS...

is not run by the device's shell: the daemon (:func:`shell_route`) runs ``PROGRAM`` (an ARM ELF,
looked up on the device's PATH) as ``qemu-arm -L ROOT -cpu <profile cpu> -plugin
insn_count.so,out=<ROOT/GUEST_FILE>`` with a fixed environment (``PYTHONHASHSEED=0``,
``PYTHONDONTWRITEBYTECODE=1``, nothing else from the caller), in the device's memory cgroup, on one
host CPU. ``edgekit-counted --probe`` prints ``edgekit-counted 1 ...`` (the bench stage uses it to
tell the emulated device from a real phone, where the command does not exist).

Guest programs mark phases with ``syscall(MARK_SYSCALL, tag, index)`` (an unused number; qemu
answers ENOSYS); each mark appends the running counts to the output file at once (see
:func:`parse_log`), so a killed guest keeps every mark it reached.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.cache import cache_dir, locked
from edgekit.digest import sha256_bytes
from edgekit.errors import EdgekitError

PLUGIN_DIR = Path(__file__).with_name("plugin")
PLUGIN_SOURCES = ("insn_count.c", "classify.h")
CFLAGS = ("-O2", "-fPIC", "-shared", "-Wall", "-fvisibility=hidden")
LIBS = ("-ldl",)
MARK_SYSCALL = 0xEDC0
CLASSES = ("alu", "mul", "ldst", "branch", "vfp", "neon_int", "neon_float", "simd_ldst", "other")
COMMAND = "edgekit-counted"
QEMU_ARM = "qemu-arm"
FIXED_ROOT = Path("/run/edgekit/guest-root")   # the device root is bind-mounted here (daemon namespace)
COUNTED_ENV = {
    "PATH": "/system/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/data/local/tmp",
    "TMPDIR": "/data/local/tmp",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Debian's libblas.so.3 is an absolute symlink via /etc/alternatives, which -L resolves on the host,
# and qemu 7.2 does not redirect stat/statx under -L (so the guest's ld.so would think guest-path
# library directories do not exist): point the loader at the real directories by their host path
# (under the fixed root, so the string is the same for every device instance).
LIBRARY_DIRS = ("usr/lib/arm-linux-gnueabihf/blas", "usr/lib/arm-linux-gnueabihf/lapack")
ALLOWED_OUT = "/data/local/tmp/"


def plugin_key() -> str:
    blob = b"".join(name.encode() + b"\0" + (PLUGIN_DIR / name).read_bytes() + b"\0" for name in PLUGIN_SOURCES)
    return sha256_bytes(blob + " ".join(CFLAGS + LIBS).encode())[:16]


def plugin_path() -> Path:
    return cache_dir() / "plugins" / f"insn_count-{plugin_key()}.so"


def build_plugin(force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Compile the plugin into the cache (once per source hash); returns the .so path."""
    log = log or (lambda msg: None)
    dst = plugin_path()
    if dst.is_file() and not force:
        return dst
    gcc = shutil.which("gcc")
    if not gcc:
        raise EdgekitError("gcc not found: cannot build the instruction-counting qemu plugin",
                           hint="run `bash scripts/setup.sh` (or apt-get install gcc)")
    with locked(dst.parent / ".build.lock"):
        if dst.is_file() and not force:
            return dst
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        cmd = [gcc, *CFLAGS, f"-I{PLUGIN_DIR}", "-o", str(tmp), str(PLUGIN_DIR / "insn_count.c"), *LIBS]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            first = (proc.stderr.strip().splitlines() or ["?"])[0]
            raise EdgekitError(f"building the qemu plugin failed: {first[:200]}", hint=" ".join(cmd))
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
        log(f"built {dst}")
    return dst


def require_qemu_arm() -> str:
    path = shutil.which(QEMU_ARM)
    if not path:
        raise EdgekitError("qemu-arm (dynamic, loads TCG plugins) not found",
                           hint="run `bash scripts/setup.sh` (or apt-get install qemu-user)")
    return path


# ------------------------------------------------------------------------------------------------
# the count log


@dataclass
class Mark:
    tag: int
    index: int
    total: int
    classes: dict[str, int]
    thumb: int | None = None        # of ``total``, executed in Thumb state


@dataclass
class CountLog:
    classes: tuple[str, ...] = CLASSES
    marks: list[Mark] = field(default_factory=list)
    exit: Mark | None = None             # tag/index -1 (written when the guest exits normally)
    stats: dict[str, int] = field(default_factory=dict)
    header: str = ""


def parse_log(text: str) -> CountLog:
    """Parse the plugin's output file (a partial last line from a killed guest is ignored)."""
    log = CountLog()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # unfinished record
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "edgekit-insn-count":
            log.header = line
            for p in parts[2:]:
                if p.startswith("classes="):
                    log.classes = tuple(p[len("classes="):].split(","))
        elif parts[0] == "mark" and len(parts) >= 4 + len(log.classes):
            nums = [int(x) for x in parts[1:4 + len(log.classes)]]
            extra = _keyvals(parts[4 + len(log.classes):])
            log.marks.append(Mark(nums[0], nums[1], nums[2], dict(zip(log.classes, nums[3:])), extra.get("thumb")))
        elif parts[0] == "exit" and len(parts) >= 2 + len(log.classes):
            nums = [int(x) for x in parts[1:2 + len(log.classes)]]
            extra = _keyvals(parts[2 + len(log.classes):])
            log.exit = Mark(-1, -1, nums[0], dict(zip(log.classes, nums[1:])), extra.pop("thumb", None))
            log.stats.update(extra)
    return log


def _keyvals(tokens: list[str]) -> dict[str, int]:
    out = {}
    for p in tokens:
        k, _, v = p.partition("=")
        if v.isdigit():
            out[k] = int(v)
    return out


def diff(a: Mark, b: Mark) -> dict[str, int]:
    """Counts executed between mark ``a`` and mark ``b`` (by class, plus ``total``)."""
    out = {c: b.classes.get(c, 0) - a.classes.get(c, 0) for c in b.classes}
    out["total"] = b.total - a.total
    return out


def thumb_between(a: Mark, b: Mark) -> int | None:
    """Instructions executed in Thumb state between two marks (None for logs without it)."""
    if a.thumb is None or b.thumb is None:
        return None
    return b.thumb - a.thumb


# ------------------------------------------------------------------------------------------------
# the counted execution route (runs inside the device daemon)


class CountedUsage(Exception):
    pass


@dataclass
class CountedRequest:
    argv: list[str]
    out: str | None = None
    cwd: str = "/data/local/tmp"
    probe: bool = False


def parse_request(command: str) -> CountedRequest | None:
    """``edgekit-counted ...`` -> request; None when the command is something else."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or words[0] != COMMAND:
        return None
    req = CountedRequest(argv=[])
    i = 1
    while i < len(words):
        w = words[i]
        if w == "--":
            req.argv = words[i + 1:]
            break
        if w == "--probe":
            req.probe = True
        elif w in ("--out", "--cwd"):
            if i + 1 >= len(words):
                raise CountedUsage(f"{w} needs a value")
            setattr(req, w[2:], words[i + 1])
            i += 1
        else:
            raise CountedUsage(f"unknown option {w!r} (usage: {COMMAND} [--out FILE] [--cwd DIR] -- PROGRAM ARGS...)")
        i += 1
    if not req.probe and not req.argv:
        raise CountedUsage(f"no program (usage: {COMMAND} [--out FILE] [--cwd DIR] -- PROGRAM ARGS...)")
    return req


def _inside(root: Path, guest_path: str) -> Path:
    """Host path of an absolute guest path; refuses anything resolving outside the root."""
    if not guest_path.startswith("/"):
        raise CountedUsage(f"{guest_path!r} must be an absolute device path")
    host = Path(os.path.normpath(str(root) + "/" + guest_path.lstrip("/")))
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(host))
    if real != real_root and real_root not in real.parents:
        raise CountedUsage(f"{guest_path} is outside the device")
    return host


def _find_program(root: Path, name: str) -> tuple[str, Path]:
    if "/" in name:
        cands = [name]
    else:
        cands = [f"{d}/{name}" for d in COUNTED_ENV["PATH"].split(":")]
    for guest in cands:
        try:
            host = _inside(root, guest)
        except CountedUsage:
            continue
        if host.is_file() and os.access(host, os.X_OK):
            with open(host, "rb") as fh:
                magic = fh.read(20)
            if magic[:4] != b"\x7fELF" or magic[18:20] != b"\x28\x00":
                raise CountedUsage(f"{guest} is not a 32-bit ARM ELF program (counted runs need one, not a script)")
            return guest, host
    raise CountedUsage(f"{name}: not found on the device")


_fixed_root: Path | None = None


def fixed_root(root: Path) -> Path:
    """The device root at a path that is the same for every device instance (so the guest sees the
    same executable path in every counted run); falls back to ``root`` if the bind mount fails."""
    global _fixed_root
    if _fixed_root is not None:
        return _fixed_root
    _fixed_root = root
    try:
        FIXED_ROOT.mkdir(parents=True, exist_ok=True)
        if os.path.ismount(FIXED_ROOT):
            subprocess.run(["umount", "-l", str(FIXED_ROOT)], capture_output=True)
        proc = subprocess.run(["mount", "--bind", str(root), str(FIXED_ROOT)], capture_output=True)
        if proc.returncode == 0:
            _fixed_root = FIXED_ROOT
    except OSError:
        pass
    return _fixed_root


def counted_argv(req: CountedRequest, root: Path, qemu_cpu: str) -> tuple[list[str], dict[str, str], Path]:
    """(host argv, environment, host cwd) for a counted run of ``req`` on the device rooted at ``root``."""
    base = fixed_root(root)
    guest_prog, host_prog = _find_program(base, req.argv[0])
    cwd = _inside(base, req.cwd)
    if not cwd.is_dir():
        raise CountedUsage(f"--cwd {req.cwd}: no such directory on the device")
    plugin_args = [f"mark={MARK_SYSCALL}"]
    if req.out:
        if not req.out.startswith(ALLOWED_OUT):
            raise CountedUsage(f"--out must be under {ALLOWED_OUT}")
        out = _inside(base, req.out)
        if not out.parent.is_dir():
            raise CountedUsage(f"--out {req.out}: no such directory on the device")
        plugin_args.insert(0, f"out={out}")
    else:
        plugin_args.insert(0, "out=/dev/null")
    if any("," in a for a in plugin_args):
        raise CountedUsage("--out may not contain ','")
    plugin = build_plugin()
    # Arguments naming files in /data/local/tmp go by their host path under the fixed root: qemu -L
    # redirects open() but not stat(), so a program that looks before it opens (Python finding its
    # stdlib beside itself, the loader's --library-path) must see paths that exist on the host.
    args = [str(_inside(base, a)) if a.startswith(ALLOWED_OUT) else a for a in req.argv[1:]]
    argv = [require_qemu_arm(), "-L", str(base), "-cpu", qemu_cpu, "-plugin", ",".join([str(plugin), *plugin_args]),
            str(host_prog), *args]
    env = dict(COUNTED_ENV, LD_LIBRARY_PATH=":".join(f"{base}/{d}" for d in LIBRARY_DIRS))
    return argv, env, cwd


def probe_text(qemu_cpu: str, profile: str | None = None) -> str:
    return (f"{COMMAND} 1 plugin={plugin_key()} cpu={qemu_cpu} profile={profile or '?'} mark={MARK_SYSCALL} "
            f"classes={','.join(CLASSES)}")


def _error_command(message: str, root: Path, profile, cgroup):
    from edgekit.emulator import guest

    return guest.guest_command(["/bin/sh", "-c", 'echo "$1" >&2; exit 2', "sh", f"{COMMAND}: {message}"],
                               root=root, profile=profile, cgroup=cgroup)


def shell_route(command: str, *, root: Path, profile, cgroup):
    """The execution route for one ``adb shell`` command: a GuestCommand running it counted (or
    reporting a usage error, exit 2) when it is an ``edgekit-counted`` command; None otherwise."""
    from edgekit.emulator import guest

    try:
        req = parse_request(command)
    except CountedUsage as exc:
        return _error_command(str(exc), root, profile, cgroup)
    if req is None:
        return None
    cpu = profile.qemu_cpu or "cortex-a7"
    try:
        if req.probe:
            return guest.guest_command(["/bin/echo", probe_text(cpu, profile.name)], root=root, profile=profile, cgroup=cgroup)
        argv, env, cwd = counted_argv(req, root, cpu)
    except CountedUsage as exc:
        return _error_command(str(exc), root, profile, cgroup)
    except EdgekitError as exc:
        return _error_command(exc.one_line(), root, profile, cgroup)
    cwd_s = str(cwd)

    def preexec() -> None:
        if cgroup is not None:
            cgroup.add_current_process()
        os.setsid()   # not pinned to a host CPU: counts do not depend on it, and bench --jobs runs two side by side
        os.chdir(cwd_s)

    return guest.GuestCommand(argv=argv, env=env, preexec_fn=preexec)


def main(argv: list[str] | None = None) -> int:
    """``python -m edgekit.emulator.counting build`` (the set-up calls this)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["build"]:
        print("usage: python -m edgekit.emulator.counting build [--force]", file=sys.stderr)
        return 2
    try:
        path = build_plugin(force="--force" in args)
    except EdgekitError as exc:
        print(exc.one_line(), file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
