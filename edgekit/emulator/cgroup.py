"""A memory cgroup that caps everything the emulated device runs.

cgroup v2 (``memory.max``) when the unified hierarchy has the memory controller, else cgroup v1
(``memory.limit_in_bytes``). Processes past the cap are killed by the kernel's OOM killer; the
``oom_kill`` counter tells the daemon so that it can report it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _mounts() -> list[tuple[str, str, list[str]]]:
    out = []
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4:
                out.append((parts[1], parts[2], parts[3].split(",")))
    except OSError:
        pass
    return out


def _own_path(v1_controller: str | None) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hid, ctrls, path = line.split(":", 2)
            if v1_controller is None and hid == "0":
                return path
            if v1_controller and v1_controller in ctrls.split(","):
                return path
    except (OSError, ValueError):
        pass
    return "/"


def _candidates() -> list[tuple[str, Path]]:
    """(version, parent dir) pairs where a device cgroup may be created, best first."""
    out: list[tuple[str, Path]] = []
    for mnt, fstype, _opts in _mounts():
        if fstype == "cgroup2":
            root = Path(mnt)
            try:
                if "memory" not in (root / "cgroup.controllers").read_text().split():
                    continue
            except OSError:
                continue
            own = root / _own_path(None).lstrip("/")
            for parent in (root, own.parent, own):
                out.append(("v2", parent))
    for mnt, fstype, opts in _mounts():
        if fstype == "cgroup" and "memory" in opts:
            root = Path(mnt)
            own = root / _own_path("memory").lstrip("/")
            for parent in (root, own):
                out.append(("v1", parent))
    return out


class MemoryCgroup:
    def __init__(self, version: str, path: Path, limit_bytes: int):
        self.version = version
        self.path = Path(path)
        self.limit_bytes = limit_bytes

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, limit_bytes: int) -> "MemoryCgroup | None":
        """Create ``<parent>/edgekit/<name>`` with the limit, or None if no cgroup is writable."""
        for version, parent in _candidates():
            base = parent / "edgekit-devices"
            path = base / name
            try:
                base.mkdir(exist_ok=True)
                if version == "v2":
                    try:
                        ctl = (base.parent / "cgroup.subtree_control")
                        if "memory" not in ctl.read_text().split():
                            ctl.write_text("+memory")
                        if "memory" not in (base / "cgroup.subtree_control").read_text().split():
                            (base / "cgroup.subtree_control").write_text("+memory")
                    except OSError:
                        pass
                if path.exists():
                    cls(version, path, limit_bytes).remove()
                path.mkdir()
                cg = cls(version, path, limit_bytes)
                cg._set_limit()
                return cg
            except OSError:
                try:
                    path.rmdir()
                except OSError:
                    pass
                continue
        return None

    def _set_limit(self) -> None:
        if self.version == "v2":
            (self.path / "memory.max").write_text(str(self.limit_bytes))
            try:
                (self.path / "memory.swap.max").write_text("0")
            except OSError:
                pass
            got = (self.path / "memory.max").read_text().strip()
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
            for f, value in (("memory.memsw.limit_in_bytes", self.limit_bytes), ("memory.swappiness", 0)):
                try:
                    (self.path / f).write_text(str(value))
                except OSError:
                    pass
            got = (self.path / "memory.limit_in_bytes").read_text().strip()
        if abs(int(got) - self.limit_bytes) > 1 << 20:
            raise OSError(f"memory limit not applied ({got})")

    # -- use ----------------------------------------------------------------------------------
    def add_current_process(self) -> None:
        """Move the calling process into the cgroup (used in a child before exec)."""
        with open(self.path / "cgroup.procs", "w") as fh:
            fh.write(str(os.getpid()))

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        if self.version == "v1":  # old kernels: no oom_kill line; failcnt grows on pressure
            try:
                return int((self.path / "memory.failcnt").read_text())
            except (OSError, ValueError):
                pass
        return 0

    def usage_bytes(self) -> int:
        name = "memory.current" if self.version == "v2" else "memory.usage_in_bytes"
        try:
            return int((self.path / name).read_text())
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self, timeout: float = 5.0) -> None:
        if self.version == "v2" and (self.path / "cgroup.kill").exists():
            try:
                (self.path / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.time() + timeout
        while True:
            pids = [p for p in self.pids() if p != os.getpid()]
            if not pids or time.time() > deadline:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)

    def as_dict(self) -> dict:
        return {"version": self.version, "path": str(self.path), "limit_bytes": self.limit_bytes}

    @classmethod
    def from_dict(cls, d: dict) -> "MemoryCgroup":
        return cls(d["version"], Path(d["path"]), int(d["limit_bytes"]))


class CgroupCap:
    """The memory cap enforced by a :class:`MemoryCgroup` (see :mod:`edgekit.emulator.memory_cap`)."""

    def __init__(self, cgroup: MemoryCgroup):
        self.cgroup = cgroup
        self.by = f"cgroup {cgroup.version}"

    def describe(self) -> str:
        return f"memory cap {self.cgroup.limit_bytes >> 20} MB enforced by cgroup {self.cgroup.version} at {self.cgroup.path}"

    def kills(self) -> int:
        return self.cgroup.oom_kills()

    def pids(self) -> list[int]:
        return self.cgroup.pids()

    async def enforce(self) -> None:
        return None  # the kernel enforces it

    def release(self) -> None:
        self.cgroup.remove()
