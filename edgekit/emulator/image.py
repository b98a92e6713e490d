"""The device image: a Debian bookworm armhf root filesystem with the armv7 TFLite runtime.

Built once into ``${EDGEKIT_CACHE:-~/.cache/edgekit}/images/<key>/rootfs`` where ``key`` hashes the
recipe below; an unchanged recipe reuses the image. The build happens in a temporary sibling
directory that is renamed into place only when complete, so a killed build never leaves an image
that a later run would use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from edgekit.cache import cache_dir, locked
from edgekit.clock import utc_now
from edgekit.digest import sha256_bytes, sha256_file
from edgekit.emulator import hosttools
from edgekit.errors import EdgekitError

PYTHON_SITE = "usr/local/lib/python3.11/dist-packages"
TFLITE_WHEEL = "tflite-runtime==2.14.0"
WHEEL_PLATFORM = "manylinux_2_34_armv7l"

GETPROP_SH = r"""#!/bin/sh
# getprop of the edgekit emulated device: answers from /system/build.prop (key=value lines),
# which the device daemon writes from the device profile at start.
f=/system/build.prop
[ -r "$f" ] || f=/dev/null
if [ $# -eq 0 ]; then
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    printf '[%s]: [%s]\n' "${line%%=*}" "${line#*=}"
  done < "$f"
  exit 0
fi
while IFS= read -r line; do
  case "$line" in "$1="*) printf '%s\n' "${line#*=}"; exit 0 ;; esac
done < "$f"
printf '%s\n' "${2:-}"
"""

RECIPE = {
    "recipe_version": 1,
    "suite": "bookworm",
    "arch": "armhf",
    "variant": "minbase",
    "include": ["python3", "python3-numpy"],
    "wheel": TFLITE_WHEEL,
    "wheel_platform": WHEEL_PLATFORM,
    "wheel_python": "3.11",
    "site_packages": PYTHON_SITE,
    "layout": ["data/local/tmp", "system/bin/getprop", "sdcard", "proc", "dev"],
    "getprop": GETPROP_SH,
}

Log = Callable[[str], None]


def recipe_key() -> str:
    # (json.dumps' default separators, not digest.sha256_json's compact ones: the key names the
    # images already built on users' machines, and a new key would rebuild them for nothing)
    blob = json.dumps(RECIPE, sort_keys=True).encode()
    return sha256_bytes(blob)[:16]


def images_dir() -> Path:
    return cache_dir() / "images"


def image_dir(key: str | None = None) -> Path:
    return images_dir() / (key or recipe_key())


def image_ready(key: str | None = None) -> bool:
    d = image_dir(key)
    return (d / "READY").is_file() and (d / "rootfs" / "bin").exists()


def rootfs_path() -> Path:
    """The rootfs of the current recipe's image; a one-line error when it is not built."""
    if not image_ready():
        raise EdgekitError(
            f"the device image is not built (no complete image at {image_dir()})",
            hint="run `edgekit emulator build` (or `bash scripts/setup.sh`)",
        )
    return image_dir() / "rootfs"


DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses (``$EDGEKIT_DEBIAN_MIRROR`` overrides).

    The first ``.../debian`` archive in ``sources.list``, then in ``sources.list.d/*.list`` and
    ``*.sources`` (sorted): a deb822 ``URIs:`` line or a one-line ``deb [opts] URI bookworm ...``
    entry; ``DEFAULT_MIRROR`` when there is none (security and other archives are not the base mirror).
    """
    env = os.environ.get("EDGEKIT_DEBIAN_MIRROR")
    if env:
        return env
    # (apt reads only *.list and *.sources there: a "x.list.disabled" file names no mirror in use)
    extra = [p for p in sorted((apt_dir / "sources.list.d").glob("*")) if p.suffix in (".list", ".sources")]
    files = [apt_dir / "sources.list", *extra]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^\s*URIs:\s*(\S+)", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
        for m in re.finditer(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
    return DEFAULT_MIRROR


def _host_env() -> dict[str, str]:
    """A clean environment for commands touching the rootfs (host PIP_* etc. must not leak)."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "HOME": "/root"}


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the building process dies (a killed build stops its debootstrap)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(cmd: list[str], log_file: Path, what: str, env: dict | None = None, timeout: float | None = None) -> None:
    with open(log_file, "ab") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n".encode())
        fh.flush()
        # Own process group, so that an interrupted build can kill debootstrap *and* its children
        # (dpkg, wget ...) before removing the temp dir they write into.
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env or _host_env(),
                                preexec_fn=_die_with_parent, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
    if proc.returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise EdgekitError(f"{what} failed (exit {proc.returncode}): {tail[0][:200]}", hint=f"see {log_file}")


def fetch_wheel(log: Log) -> Path:
    """Download the armv7l tflite-runtime wheel on the host (cached)."""
    dl = cache_dir() / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    name, version = TFLITE_WHEEL.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*{WHEEL_PLATFORM}.whl"
    found = sorted(dl.glob(pattern))
    if found:
        return found[0]
    log(f"downloading {TFLITE_WHEEL} ({WHEEL_PLATFORM})")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--platform", WHEEL_PLATFORM, "--python-version", RECIPE["wheel_python"], TFLITE_WHEEL, "-d", str(dl)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dl.glob(pattern))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise EdgekitError(f"could not download the armv7 {TFLITE_WHEEL} wheel: {last[:200]}", hint="check access to PyPI")
    return found[0]


def _install_wheel(wheel: Path, rootfs: Path) -> None:
    site = rootfs / PYTHON_SITE
    site.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            target = (site / info.filename).resolve()
            if not str(target).startswith(str(site.resolve()) + os.sep):
                raise EdgekitError(f"unsafe path {info.filename} in {wheel.name}")
            zf.extract(info, site)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(target, mode)


def _layout(rootfs: Path) -> None:
    for d in ("data/local/tmp", "system/bin", "sdcard", "proc", "dev", "tmp"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs / "data/local/tmp", 0o1777)
    os.chmod(rootfs / "tmp", 0o1777)
    getprop = rootfs / "system/bin/getprop"
    getprop.write_text(GETPROP_SH)
    os.chmod(getprop, 0o755)
    (rootfs / "system/build.prop").write_text("# written by the edgekit device daemon at start\n")
    (rootfs / "etc/edgekit-device").write_text(json.dumps({"recipe_key": recipe_key()}) + "\n")


def _cleanup_stale(log: Log) -> None:
    for tmp in images_dir().glob(".tmp-*"):
        log(f"removing an unfinished build {tmp.name}")
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """A SIGTERM during the build raises, so the unfinished temp dir is removed on the way out."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt("terminated")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def build_image(force: bool = False, log: Log | None = None) -> Path:
    """Build (or reuse) the device image; returns the image directory."""
    log = log or (lambda msg: None)
    key = recipe_key()
    final = image_dir(key)
    if image_ready(key) and not force:
        if os.geteuid() == 0:
            hosttools.ensure_binfmt()  # lost at reboot; the device needs it to run ARM programs
        log(f"image {key} is up to date ({final})")
        return final
    if force and final.exists():
        from edgekit.emulator.instance import instances

        users = [i.serial for i in instances()
                 if i.daemon_alive() and str(i.daemon.get("rootfs", "")).startswith(str(final))]
        if users:
            raise EdgekitError(f"the image is in use by running emulated devices ({', '.join(users)})",
                               hint="`edgekit emulator stop` them first")
    hosttools.require_root("building the device image")
    hosttools.require_tool("debootstrap", "debootstrap")
    hosttools.ensure_binfmt()
    waiting = lambda: log("another process is building the device image (e.g. set-up, in the background): waiting for it")
    with locked(images_dir() / ".build.lock", on_wait=waiting), _sigterm_raises():
        if image_ready(key) and not force:  # built by someone else while we waited
            log(f"image {key} is up to date ({final})")
            return final
        _cleanup_stale(log)
        wheel = fetch_wheel(log)
        tmp = images_dir() / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        rootfs = tmp / "rootfs"
        blog = tmp / "build.log"
        t0 = time.time()
        try:
            mirror = debian_mirror()
            log(f"debootstrap {RECIPE['suite']} {RECIPE['arch']} {RECIPE['variant']} from {mirror} (a few minutes)")
            # Own mount namespace: debootstrap's /proc and /sys mounts vanish even if it is killed.
            _run(["unshare", "--mount", "--propagation", "private", "debootstrap", f"--arch={RECIPE['arch']}",
                  f"--variant={RECIPE['variant']}", f"--include={','.join(RECIPE['include'])}",
                  RECIPE["suite"], str(rootfs), mirror], blog, "debootstrap")
            _run(["chroot", str(rootfs), "/usr/bin/apt-get", "clean"], blog, "apt-get clean")
            shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
            (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
            log(f"installing {wheel.name} offline")
            _install_wheel(wheel, rootfs)
            _layout(rootfs)
            log("checking the armv7 runtime under qemu (cortex-a7)")
            env = _host_env() | {"QEMU_CPU": "cortex-a7", "PYTHONDONTWRITEBYTECODE": "1"}
            _run(["chroot", str(rootfs), "/usr/bin/python3", "-m", "compileall", "-q",
                  f"/{PYTHON_SITE}/tflite_runtime"], blog, "compileall", env=env)
            check = ("import platform, numpy, tflite_runtime.interpreter as t; "
                     "assert platform.machine() == 'armv7l', platform.machine(); print('ok', numpy.__version__)")
            _run(["chroot", str(rootfs), "/usr/bin/python3", "-c", check], blog, "runtime check", env=env)
            meta = dict(RECIPE, key=key, wheel_file=wheel.name,
                        wheel_sha256=sha256_file(wheel), mirror=mirror, built_at=utc_now(),
                        build_seconds=round(time.time() - t0, 1))
            (tmp / "recipe.json").write_text(json.dumps(meta, indent=2) + "\n")
            (tmp / "READY").write_text(key + "\n")
            if final.exists():
                old = images_dir() / f".tmp-old-{key}-{os.getpid()}"
                os.rename(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, final)
        except BaseException:
            for _ in range(3):
                shutil.rmtree(tmp, ignore_errors=True)
                if not tmp.exists():
                    break
                time.sleep(0.5)
            raise
    log(f"image {key} built in {time.time() - t0:.0f} s ({final})")
    return final
