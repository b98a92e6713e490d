"""Host prerequisites of the emulated device: qemu-user-static, binfmt, adb, debootstrap, root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from edgekit.errors import EdgekitError

QEMU_ARM_STATIC = "qemu-arm-static"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
INSTALL_HINT = "run `bash scripts/setup.sh` (or apt-get install {pkg})"


def require_tool(tool: str, package: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
    if not path:
        raise EdgekitError(f"{tool} not found", hint=INSTALL_HINT.format(pkg=package))
    return path


def require_adb() -> str:
    return require_tool("adb", "adb")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EdgekitError(f"{what} needs root (chroot, mounts, cgroups)", hint="run it as root or with sudo")


def binfmt_enabled() -> bool:
    entry = BINFMT_DIR / "qemu-arm"
    try:
        return entry.read_text().splitlines()[0].strip() == "enabled"
    except OSError:
        return False


def ensure_binfmt() -> None:
    """Make the kernel run ARM ELF binaries through qemu-arm-static (needed by chroot)."""
    require_tool(QEMU_ARM_STATIC, "qemu-user-static")
    if binfmt_enabled():
        return
    require_root("registering qemu-arm with binfmt_misc")
    if not (BINFMT_DIR / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], capture_output=True)
    update = shutil.which("update-binfmts") or "/usr/sbin/update-binfmts"
    if os.path.exists(update):
        subprocess.run([update, "--enable", "qemu-arm"], capture_output=True)
    if not binfmt_enabled():
        raise EdgekitError(
            "qemu-arm is not registered with binfmt_misc, so ARM programs cannot run",
            hint="apt-get install qemu-user-static binfmt-support, then `update-binfmts --enable qemu-arm`",
        )
