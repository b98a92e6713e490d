"""Instance state: the emulated devices this machine knows, read from their run directories.

State lives in ``${EDGEKIT_CACHE:-~/.cache/edgekit}/run/<port>/``: ``state.json`` (written at
start), ``daemon.json`` (written by the daemon once it listens), ``daemon.log``, ``failed.txt``
(why a daemon could not start), and the instance's overlay layer. A daemon that died leaves its
state behind, so ``status`` can say ``offline``; ``stop`` cleans everything up. Starting and stopping
is :mod:`edgekit.emulator.control`; this module only reads and names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.cache import cache_dir

DEFAULT_HOST = "127.0.0.1"
DAEMON_MODULE = "edgekit.emulator.daemon"
STATE_FILE = "state.json"
READY_FILE = "daemon.json"
LOG_FILE = "daemon.log"
FAILED_FILE = "failed.txt"


def run_root() -> Path:
    return cache_dir() / "run"


def run_dir(port: int) -> Path:
    return run_root() / str(port)


@dataclass
class Instance:
    port: int
    host: str
    profile: str
    serial: str
    run_dir: Path
    pid: int | None = None
    started_at: float = 0.0
    private: bool = False
    daemon: dict = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    def daemon_alive(self) -> bool:
        return self.pid is not None and is_our_daemon(self.pid, self.port)

    def as_dict(self) -> dict:
        return {"serial": self.serial, "profile": self.profile, "host": self.host, "port": self.port, "pid": self.pid,
                "run_dir": str(self.run_dir), "log": str(self.log_path),
                "memory_cap_mb": self.daemon.get("memory_cap_mb"), "memory_cap_by": self.daemon.get("memory_cap_by")}


def is_our_daemon(pid: int, port: int) -> bool:
    """Is ``pid`` a live (not zombie) device daemon serving ``port``?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if "\nState:\tZ" in status:
            return False
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return DAEMON_MODULE.encode() in cmd and str(port).encode() in cmd


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_instance(port: int) -> Instance | None:
    d = run_dir(port)
    state = _read_json(d / STATE_FILE)
    if state is None:
        return None
    daemon = _read_json(d / READY_FILE) or {}
    return Instance(port=int(state["port"]), host=state.get("host", DEFAULT_HOST), profile=state.get("profile", "?"),
                    serial=state.get("serial", f"{DEFAULT_HOST}:{port}"), run_dir=d,
                    pid=daemon.get("pid") or state.get("pid"), started_at=state.get("started_at", 0.0), daemon=daemon,
                    private=bool(state.get("private")))


def instances() -> list[Instance]:
    out = []
    root = run_root()
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if d.name.isdigit():
                inst = load_instance(int(d.name))
                if inst is not None:
                    out.append(inst)
    return out


def emulator_alias(host: str, port: int) -> str | None:
    """The serial an adb server gives the device when it finds it by its emulator port scan.

    A fresh adb server probes 127.0.0.1:5555, 5557 ... 5585 and registers a device found there as
    ``emulator-<port-1>``; connecting ``127.0.0.1:<port>`` as well would list the device twice.
    """
    if host in ("127.0.0.1", "localhost") and 5555 <= port <= 5585 and port % 2 == 1:
        return f"emulator-{port - 1}"
    return None


def log_tail(path: Path) -> str:
    """The last non-empty line of a daemon log (300 characters at most), for one-line errors."""
    try:
        lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "empty log"
