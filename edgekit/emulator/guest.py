"""The device's filesystem and how its programs run.

``prepare_root`` (called once by the daemon, which then owns a private mount namespace) lays a
per-instance overlay over the read-only cached image, mounts /proc and a small /dev, writes the
profile's properties to /system/build.prop and shows the profile's RAM and CPUs in /proc/meminfo
and /proc/cpuinfo.

``guest_command`` is the single place deciding how a device command is executed on the host
(the *execution route*). Today: ``chroot`` — the kernel's binfmt_misc entry runs every ARM
binary under qemu-arm-static with ``QEMU_CPU`` from the profile. The ``counted`` route (dynamic
``qemu-arm -L ROOT`` with the instruction-counting plugin, for ``edgekit-counted`` commands) is
built by :func:`edgekit.emulator.counting.shell_route`, which the daemon asks first.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgekit.emulator.cgroup import MemoryCgroup
from edgekit.emulator.profiles import Profile

CLONE_NEWNS = 0x00020000
# A phone's shell: only /system/bin (toybox-like tools, getprop) is on PATH; no python3. The Debian
# userland underneath is the device's hidden system image (the commands run on it).
GUEST_PATH = "/system/bin:/system/xbin"
TOYBOX = ("sh", "cat", "chmod", "cp", "date", "dd", "df", "du", "echo", "env", "grep", "egrep", "fgrep", "gzip",
          "gunzip", "zcat", "head", "id", "ln", "ls", "md5sum", "mkdir", "mktemp", "mv", "printf", "pwd", "readlink",
          "realpath", "rm", "rmdir", "sed", "sha1sum", "sha256sum", "sleep", "sort", "stat", "sync", "tail", "tar",
          "tee", "test", "timeout", "touch", "tr", "true", "false", "uname", "uniq", "wc", "which", "xargs", "awk",
          "cut", "basename", "dirname", "expr", "find", "seq", "setsid", "nohup", "yes", "od", "kill", "ps")
ROUTES = ("chroot",)  # + "counted": edgekit.emulator.counting.shell_route
_CPU_PART = {"cortex-a7": "0xc07", "cortex-a15": "0xc0f", "max": "0xd03"}  # max: armv7-a53 (A53 part)


def unshare_mounts() -> None:
    """Give this process a private mount namespace: its mounts vanish when it (and its children) exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    _mount(["--make-rprivate", "/"])


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"mount {' '.join(args)}: {proc.stderr.strip()}")


def _bind_file(src: str | Path, dst: Path) -> None:
    if not dst.exists():
        dst.touch()
    _mount(["--bind", str(src), str(dst)])


def cpuinfo_text(profile: Profile) -> str:
    part = _CPU_PART.get(profile.qemu_cpu or "", "0xc07")
    block = (
        "processor\t: {i}\nmodel name\t: ARMv7 Processor rev 5 (v7l)\nBogoMIPS\t: 48.00\n"
        "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm\n"
        "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\n"
        f"CPU part\t: {part}\nCPU revision\t: 5\n\n"
    )
    text = "".join(block.format(i=i) for i in range(profile.cores or 1))
    return text + f"Hardware\t: edgekit emulated ({profile.qemu_cpu})\nRevision\t: 0000\nSerial\t\t: 0000000000000000\n"


def meminfo_text(profile: Profile) -> str:
    kb = (profile.memory_mb or 1024) * 1024
    rows = [("MemTotal", kb), ("MemFree", kb), ("MemAvailable", kb), ("Buffers", 0), ("Cached", 0),
            ("SwapCached", 0), ("SwapTotal", 0), ("SwapFree", 0)]
    return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)


def build_prop_text(profile: Profile) -> str:
    lines = [f"# edgekit device profile {profile.name}"]
    lines += [f"{k}={v}" for k, v in profile.properties.items()]
    return "\n".join(lines) + "\n"


def prepare_root(image_rootfs: Path, run_dir: Path, profile: Profile, log: Callable[[str], None]) -> Path:
    """Mount the device filesystem for this instance; returns the guest root (host path).

    Must run in a private mount namespace (``unshare_mounts``).
    """
    root = run_dir / "root"
    upper, work, fake = run_dir / "upper", run_dir / "work", run_dir / "fake"
    for d in (upper, work):
        shutil.rmtree(d, ignore_errors=True)  # every start is a fresh device
    for d in (root, upper, work, fake):
        d.mkdir(parents=True, exist_ok=True)
    try:
        _mount(["-t", "overlay", "overlay", "-o", f"lowerdir={image_rootfs},upperdir={upper},workdir={work}", str(root)])
        log("root: overlay on the cached image (changes stay in this instance)")
    except OSError as exc:
        # e.g. the cache itself is on overlayfs (containers): keep the writable layer on a tmpfs
        log(f"root: overlay with the upper layer in {run_dir} failed ({exc}); trying a tmpfs upper layer")
        layer = run_dir / "layer"
        layer.mkdir(exist_ok=True)
        try:
            _mount(["-t", "tmpfs", "-o", "mode=755,size=4g", "tmpfs", str(layer)])
            (layer / "upper").mkdir()
            (layer / "work").mkdir()
            _mount(["-t", "overlay", "overlay", "-o",
                    f"lowerdir={image_rootfs},upperdir={layer / 'upper'},workdir={layer / 'work'}", str(root)])
            log("root: overlay on the cached image, changes in a tmpfs")
        except OSError as exc2:
            raise OSError(f"cannot mount the device filesystem (overlayfs): {exc2}") from exc2
    _mount(["-t", "proc", "proc", str(root / "proc")])
    dev = root / "dev"
    _mount(["-t", "tmpfs", "-o", "mode=755,size=1m", "tmpfs", str(dev)])
    for node in ("null", "zero", "full", "random", "urandom", "tty"):
        if os.path.exists(f"/dev/{node}"):
            _bind_file(f"/dev/{node}", dev / node)
    (dev / "shm").mkdir()
    _mount(["-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", str(dev / "shm")])
    (dev / "pts").mkdir()
    if os.path.isdir("/dev/pts"):  # pty sessions (adb shell -t): ttyname() must find the slave
        try:
            _mount(["--bind", "/dev/pts", str(dev / "pts")])
            os.symlink("pts/ptmx", dev / "ptmx")
        except OSError as exc:
            log(f"no /dev/pts in the device ({exc})")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, dev / name)
    (fake / "cpuinfo").write_text(cpuinfo_text(profile))
    (fake / "meminfo").write_text(meminfo_text(profile))
    _bind_file(fake / "cpuinfo", root / "proc/cpuinfo")
    _bind_file(fake / "meminfo", root / "proc/meminfo")
    (root / "system").mkdir(exist_ok=True)
    (root / "system/build.prop").write_text(build_prop_text(profile))
    # nproc would count the host CPUs this instance may use; like a phone, answer the profile's cores.
    for tool in TOYBOX:   # /system/bin: the toybox-like tools a phone's shell has
        link, target = root / "system/bin" / tool, next((f"/usr/bin/{tool}" for d in ("usr/bin", "bin")
                                                         if (root / d / tool).exists()), None)
        if target and not link.exists() and not link.is_symlink():
            os.symlink(target, link)
    nproc = root / "system/bin/nproc"
    nproc.write_text("#!/bin/sh\n# edgekit: the device profile's core count\nexec grep -c ^processor /proc/cpuinfo\n")
    nproc.chmod(0o755)
    tmp = root / "data/local/tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if profile.data_mb:   # a phone whose storage is nearly full
        opts = f"mode=1777,size={int(profile.data_mb)}m" + (",noexec" if profile.data_noexec else "")
        _mount(["-t", "tmpfs", "-o", opts, "tmpfs", str(tmp)])
        log(f"/data/local/tmp: a {profile.data_mb} MB tmpfs{' (noexec)' if profile.data_noexec else ''} (profile data_mb)")
    return root


@dataclass
class GuestCommand:
    """How to start one device command on the host: pass these to subprocess/asyncio."""

    argv: list[str]
    env: dict[str, str]
    preexec_fn: Callable[[], None]


def guest_env(profile: Profile, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": GUEST_PATH,
        "HOME": "/data/local/tmp",
        "TMPDIR": "/data/local/tmp",
        "SHELL": "/bin/sh",
        "USER": "root",
        "LANG": "C.UTF-8",
        "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system",
        "QEMU_CPU": profile.qemu_cpu or "cortex-a7",
    }
    env.update(extra or {})
    return env


def guest_command(
    argv: list[str],
    *,
    root: Path,
    profile: Profile,
    cgroup: MemoryCgroup | None,
    route: str = "chroot",
    env: dict[str, str] | None = None,
    cwd: str = "/",
    set_ctty: bool = False,
) -> GuestCommand:
    """The execution route: turn a guest argv (guest paths) into a host process spec.

    route ``chroot``: the child joins the device's memory cgroup, gets its own session,
    is pinned to at most ``profile.cores`` host CPUs, chroots into the device root and execs
    ``argv``; binfmt_misc runs the ARM binary under qemu-arm-static with ``QEMU_CPU``.
    """
    if route not in ROUTES:
        raise ValueError(f"unknown execution route {route!r} (known: {', '.join(ROUTES)})")
    ncpu = os.cpu_count() or 1
    cpus = set(range(min(profile.cores or ncpu, ncpu)))
    root_s = str(root)

    def preexec() -> None:
        if cgroup is not None:
            cgroup.add_current_process()
        os.setsid()
        if set_ctty:
            import fcntl
            import termios

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
        os.chroot(root_s)
        os.chdir(cwd)

    return GuestCommand(argv=list(argv), env=guest_env(profile, env), preexec_fn=preexec)
