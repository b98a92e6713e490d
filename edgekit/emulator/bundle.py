"""The device runtime bundle: the device image's Python 3.11, numpy and tflite-runtime 2.14 as one
relocatable ``.tar.gz`` that a phone runs from ``/data/local/tmp`` through its own loader.

A phone has no python3; the bundle brings one. It holds only what the python runner loads::

    bin/python3.11                      the image's interpreter
    lib/ld-linux-armhf.so.3, lib/*.so*  the loader and every shared library the programs below need
    lib/python3.11/...                  the stdlib modules the device script imports (+ a few spare),
                                        numpy and tflite_runtime beside them (no site-packages, no site)
    BUNDLE.json                         versions and file list

and runs as ``DIR/lib/ld-linux-armhf.so.3 --library-path DIR/lib DIR/bin/python3.11 -S script.py``
(Python finds its stdlib from its own path; nothing outside DIR is read). Which modules and libraries
are needed is measured, not listed: the build imports what the device script and its batch module
import inside the image (qemu), then asks the image's ``ldd`` for the libraries of every program and
extension module that was loaded. Before it is kept, the staged bundle runs *outside* the image (the
host has no armhf libraries), so a missing file fails the build, not a phone.

Built by set-up after the image (``edgekit emulator build``) into
``${EDGEKIT_CACHE}/runtime/<key>/`` (key: the image recipe + this module's recipe); the archive is
deterministic for one image (sorted, owner 0, gzip mtime 0). Its sha256 names it on the device.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.cache import cache_dir, locked
from edgekit.digest import sha256_bytes, sha256_file
from edgekit.errors import EdgekitError

BUNDLE_RECIPE = {
    "bundle_version": 1,
    "python": "3.11",
    "site": ["usr/lib/python3/dist-packages", "usr/local/lib/python3.11/dist-packages"],
    # imported on paths the trace may not take (error reports, argparse help): small, kept anyway
    "spare_modules": ["traceback", "linecache", "tokenize", "token", "shutil", "gettext", "locale", "copy",
                      "string", "heapq", "signal", "mmap", "tempfile", "random", "encodings.ascii", "encodings.latin_1", "encodings.utf_8_sig"],
    # optional accelerators the stdlib falls back from (hashlib without OpenSSL: 4 MB less)
    "drop": ["_hashlib", "_ssl"],
}
LOADER = "ld-linux-armhf.so.3"
ARCHIVE = "bundle.tar.gz"
INFO = "bundle.json"
_SCRIPTS = [Path(__file__).resolve().parents[1] / "bench" / "device_script.py",
            Path(__file__).resolve().parents[1] / "tflite" / "batch.py"]

# Run in the image: import what the device script imports, touch the lazily imported parts, print
# every loaded module's file and the interpreter's versions.
_TRACE = r"""
import importlib, io, json, sys
mods = sys.argv[1].split(",")
for m in mods:
    importlib.import_module(m)
import argparse, numpy as np
argparse.ArgumentParser(description="x").format_help()
buf = io.BytesIO(); np.save(buf, np.zeros((2, 3), np.float32)); buf.seek(0); np.load(buf, allow_pickle=False)
import os, tempfile
with tempfile.TemporaryDirectory() as td:   # the evaluation's file round trip (np.load with mmap)
    f = os.path.join(td, "x.npy")
    np.save(f, np.random.default_rng(0).random((4, 3), dtype=np.float32))
    x = np.load(f, mmap_mode="r", allow_pickle=False)
    np.concatenate([np.clip(np.round(x[:2] / 0.1), -128, 127).astype(np.int8), np.zeros((1, 3), np.int8)])
    np.iinfo(np.int8); del x
json.dumps({"a": [1.0, float("nan")]})
import tflite_runtime
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
print(json.dumps({"files": files, "python": sys.version.split()[0], "numpy": np.__version__,
                  "tflite_runtime": tflite_runtime.__version__}))
"""


@dataclass(frozen=True)
class Bundle:
    """One built bundle: the archive on the host and what it holds."""

    path: Path
    sha256: str
    size_bytes: int
    unpacked_bytes: int
    files: int
    python: str
    numpy: str
    tflite_runtime: str

    @property
    def short(self) -> str:
        return self.sha256[:16]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def bundle_key() -> str:
    from edgekit.emulator.image import recipe_key

    src = Path(__file__).read_bytes()
    return sha256_bytes(json.dumps({"image": recipe_key(), "recipe": BUNDLE_RECIPE}, sort_keys=True).encode()
                        + sha256_bytes(src).encode())[:16]


def bundle_dir() -> Path:
    return cache_dir() / "runtime" / bundle_key()


def load_bundle() -> Bundle:
    """The built bundle of the current image; a one-line error when there is none."""
    d = bundle_dir()
    try:
        meta = json.loads((d / INFO).read_text())
        b = Bundle(path=d / ARCHIVE, **{k: meta[k] for k in Bundle.__dataclass_fields__ if k != "path"})
    except (OSError, ValueError, KeyError, TypeError):
        raise EdgekitError(f"the device runtime bundle is not built (nothing complete in {d})",
                           hint="run `edgekit emulator build` (as root; set-up does it)") from None
    if not b.path.is_file():
        raise EdgekitError(f"the device runtime bundle {b.path} is missing", hint="run `edgekit emulator build`")
    return b


def _in_root(root: Path, guest: str) -> Path:
    """Host path of a guest path, following symlinks (absolute ones too) inside the image."""
    parts = list(Path(guest.lstrip("/")).parts)
    cur: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = cur[:-1]
            continue
        cand = root.joinpath(*cur, part)
        if cand.is_symlink():
            hops += 1
            if hops > 40:
                raise EdgekitError(f"too many symlinks resolving {guest} in the device image")
            target = os.readlink(cand)
            if target.startswith("/"):
                cur = []
            parts = [p for p in Path(target.lstrip("/")).parts if p != "."] + parts
            continue
        cur.append(part)
    return root.joinpath(*cur)


def _chroot(root: Path, argv: list[str], timeout: float = 600) -> str:
    from edgekit.emulator.image import _host_env

    env = _host_env() | {"QEMU_CPU": "cortex-a7", "PYTHONDONTWRITEBYTECODE": "1",
                         "PYTHONPATH": ":".join("/" + s for s in BUNDLE_RECIPE["site"])}
    proc = subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise EdgekitError(f"bundle build: {argv[0]} in the device image failed: {tail[:200]}")
    return proc.stdout


def script_imports() -> list[str]:
    """Top-level module names the device script and its batch module import (also inside functions)."""
    names: set[str] = set()
    for f in _SCRIPTS:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    names.discard("edgekit_batch")  # pushed beside the script, not part of the runtime
    return sorted(names | {"tflite_runtime.interpreter"})


def _dest(guest: str) -> str | None:
    """Where a guest module file goes in the bundle (relative), None when it is not ours to carry."""
    for prefix in ["usr/lib/python3.11/", *[s + "/" for s in BUNDLE_RECIPE["site"]]]:
        if guest.lstrip("/").startswith(prefix):
            return "lib/python3.11/" + guest.lstrip("/")[len(prefix):]
    return None


def _spare_files(root: Path) -> list[str]:
    out = []
    for mod in BUNDLE_RECIPE["spare_modules"]:
        rel = mod.replace(".", "/")
        cands = [f"usr/lib/python3.11/{rel}.py", f"usr/lib/python3.11/{rel}/__init__.py",
                 *(str(p.relative_to(root)) for p in (root / "usr/lib/python3.11/lib-dynload").glob(f"{rel}.cpython-311-*.so"))]
        out += ["/" + c for c in cands if (root / c).is_file()]
    return out


def _stage(root: Path, stage: Path, trace: dict) -> int:
    """Copy what the trace loaded (+ spare modules, pycs, libraries) into ``stage``; returns the file count."""
    dropped = tuple(BUNDLE_RECIPE["drop"])
    files = [f for f in trace["files"] + _spare_files(root)
             if not Path(f).name.split(".")[0] in dropped and _dest(f)]
    copied: dict[str, Path] = {}

    def put(rel: str, src: Path) -> None:
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied[rel] = dst

    for f in files:
        rel = _dest(f)
        src = _in_root(root, f)
        put(rel, src)
        if src.suffix == ".py":
            pyc = src.parent / "__pycache__" / f"{src.stem}.cpython-311.pyc"
            if pyc.is_file():
                put(str(Path(rel).parent / "__pycache__" / pyc.name), pyc)
    put("bin/python3.11", _in_root(root, "/usr/bin/python3.11"))
    elves = ["/usr/bin/python3.11"] + [f for f in files if f.endswith(".so")]
    for lib in _needed_libraries(root, elves):
        put(f"lib/{Path(lib).name}", _in_root(root, lib))
    put(f"lib/{LOADER}", _in_root(root, f"/lib/{LOADER}"))
    return len(copied)


def _needed_libraries(root: Path, elves: list[str]) -> list[str]:
    out = _chroot(root, ["/usr/bin/ldd", *elves])
    libs = set()
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            target = rest.split("(")[0].strip()
            if target == "not found" or not target:
                raise EdgekitError(f"bundle build: {name.strip()} is missing from the device image")
            if Path(target).name != LOADER:
                libs.add(target)
    return sorted(libs)


def python_argv(d: str) -> list[str]:
    """The command that starts the bundle's Python unpacked at device path ``d`` (explicit loader)."""
    return [f"{d}/lib/{LOADER}", "--library-path", f"{d}/lib", f"{d}/bin/python3.11", "-S"]


def _check_outside_image(stage: Path, mods: list[str]) -> None:
    """Run the staged bundle from the host's filesystem (qemu via binfmt, no image, no armhf libraries)."""
    code = "import " + ", ".join(mods) + "; print('ok')"
    env = {"PATH": "/usr/bin:/bin", "QEMU_CPU": "cortex-a7", "LANG": "C.UTF-8"}
    try:
        proc = subprocess.run([*python_argv(str(stage)), "-c", code], capture_output=True, text=True, env=env,
                              timeout=600, cwd=str(stage))
    except OSError as exc:
        raise EdgekitError(f"bundle build: cannot start the staged bundle ({exc})",
                           hint="is qemu-arm registered with binfmt_misc? (`edgekit emulator build` does it)") from None
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise EdgekitError(f"bundle build: the staged bundle does not run on its own: {tail[:200]}")


def _archive(stage: Path, dst: Path) -> None:
    """A deterministic .tar.gz of ``stage``'s content (sorted, owner 0, file modes and mtimes kept)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path in sorted(stage.rglob("*")):
            info = tf.gettarinfo(str(path), arcname=str(path.relative_to(stage)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isdir():
                info.mtime = 0
            if info.isfile():
                with open(path, "rb") as fh:
                    tf.addfile(info, fh)
            else:
                tf.addfile(info)
    with open(dst, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def build_bundle(force: bool = False, log=None) -> Bundle:
    """Build (or reuse) the runtime bundle from the current device image."""
    from edgekit.emulator.image import rootfs_path

    log = log or (lambda m: None)
    final = bundle_dir()
    if not force:
        try:
            b = load_bundle()
            log(f"runtime bundle {b.short} is up to date ({b.size_bytes / 1e6:.1f} MB)")
            return b
        except EdgekitError:
            pass
    root = rootfs_path()
    with locked(final.parent / ".build.lock"):
        t0 = time.time()
        tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            stage = tmp / "stage"
            stage.mkdir(parents=True)
            mods = script_imports()
            log("runtime bundle: tracing what the device script loads (in the image, under qemu)")
            trace = json.loads(_chroot(root, ["/usr/bin/python3.11", "-S", "-c", _TRACE, ",".join(mods)]).splitlines()[-1])
            n = _stage(root, stage, trace)
            log(f"runtime bundle: {n} files staged; checking it runs outside the image")
            _check_outside_image(stage, mods)
            # nothing written by the check (pycs of the -c run) may change the archive
            for junk in stage.rglob("__pycache__"):
                for f in junk.iterdir():
                    if not f.name.endswith(".cpython-311.pyc"):
                        f.unlink()
            unpacked = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
            meta = {"bundle_version": BUNDLE_RECIPE["bundle_version"], "python": trace["python"],
                    "numpy": trace["numpy"], "tflite_runtime": trace["tflite_runtime"],
                    "files": n, "unpacked_bytes": unpacked}
            (stage / "BUNDLE.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
            os.utime(stage / "BUNDLE.json", (0, 0))
            _archive(stage, tmp / ARCHIVE)
            meta.update(sha256=sha256_file(tmp / ARCHIVE), size_bytes=(tmp / ARCHIVE).stat().st_size,
                        key=final.name, build_seconds=round(time.time() - t0, 1))
            shutil.rmtree(stage)
            (tmp / INFO).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
            for stale in final.parent.iterdir():   # bundles of earlier images or recipes
                if stale.is_dir() and stale != final and not stale.name.startswith("."):
                    shutil.rmtree(stale, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    b = load_bundle()
    log(f"runtime bundle {b.short} built: {b.size_bytes / 1e6:.1f} MB compressed, {b.unpacked_bytes / 1e6:.1f} MB "
        f"unpacked, {b.files} files, in {time.time() - t0:.0f} s")
    return b
