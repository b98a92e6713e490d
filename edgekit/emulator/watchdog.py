"""The memory cap without a cgroup: poll the RSS of every device process, kill past the cap.

Used where no memory cgroup is writable (or ``EDGEKIT_EMULATOR_NO_CGROUP`` is set). Every
``WATCHDOG_PERIOD`` seconds it sums the RSS of every process still running in a session the device
started (``sessions``: the shell commands lead their own sessions, and their background children
stay in them) and SIGKILLs the largest while the sum exceeds the cap. A fast allocation can
overshoot between two polls; the cgroup cap (:mod:`edgekit.emulator.cgroup`) cannot.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Callable

WATCHDOG_PERIOD = 0.1


def session_pids(sessions: set[int]) -> list[int]:
    """Host pids of every process still running in one of ``sessions`` (session ids)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) in sessions:
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class WatchdogCap:
    """The memory cap enforced by polling RSS (see the module doc)."""

    by = "rss watchdog"
    cgroup = None

    def __init__(self, limit_bytes: int, sessions: set[int], log: Callable[[str], None]):
        self.limit_bytes = limit_bytes
        self.sessions = sessions  # shared with the device: it adds every session it starts
        self.log = log
        self.killed = 0

    def describe(self) -> str:
        return (f"no writable memory cgroup: the {self.limit_bytes >> 20} MB cap is enforced by polling RSS "
                f"every {WATCHDOG_PERIOD} s (a fast allocation can overshoot between polls)")

    def kills(self) -> int:
        return self.killed

    def pids(self) -> list[int]:
        return session_pids(self.sessions)

    async def enforce(self) -> None:
        cap = self.limit_bytes
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD)
            if not self.sessions:
                continue
            usage: list[tuple[int, int]] = []
            for pid in self.pids():
                try:
                    usage.append((int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page, pid))
                except (OSError, ValueError, IndexError):
                    continue
            total = sum(r for r, _ in usage)
            if total > cap and usage:
                rss, pid = max(usage)
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.killed += 1
                    self.log(f"memory watchdog: {total >> 20} MB > cap {cap >> 20} MB: killed pid {pid} ({rss >> 20} MB)")
                except ProcessLookupError:
                    pass

    def release(self) -> None:
        pass
