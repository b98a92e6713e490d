"""The device's memory cap: one interface, two implementations, chosen at daemon start.

``create_cap`` gives a memory cgroup (:class:`edgekit.emulator.cgroup.CgroupCap`, the kernel
OOM-kills past ``memory.max`` / ``memory.limit_in_bytes``) when one is writable, else the RSS
watchdog (:class:`edgekit.emulator.watchdog.WatchdogCap`). ``QEMU_RESERVED_VA`` (qemu 7.2 aborts)
and ``RLIMIT_AS`` (qemu hangs) cannot cap memory, hence these two.

The daemon uses a cap through :class:`MemoryCap`: ``cgroup`` (what device commands join, or
None), ``kills()`` (a growing count tells the shell service a command was killed by the cap),
``pids()`` (every process the device runs, killed at stop), ``enforce()`` (a coroutine the daemon
runs while it serves; the cgroup needs none and returns at once) and ``release()`` at exit.
"""

from __future__ import annotations

import os
from typing import Callable, Protocol

from edgekit.emulator.cgroup import CgroupCap, MemoryCgroup
from edgekit.emulator.watchdog import WatchdogCap

NO_CGROUP_ENV = "EDGEKIT_EMULATOR_NO_CGROUP"


class MemoryCap(Protocol):
    by: str  # "cgroup v2", "cgroup v1" or "rss watchdog" (daemon.json: memory_cap_by)
    cgroup: MemoryCgroup | None

    def describe(self) -> str: ...

    def kills(self) -> int: ...

    def pids(self) -> list[int]: ...

    async def enforce(self) -> None: ...

    def release(self) -> None: ...


def create_cap(name: str, memory_mb: int, sessions: set[int], log: Callable[[str], None]) -> MemoryCap:
    """The cap for one device: a cgroup ``edgekit-devices/<name>`` if possible, else the watchdog."""
    limit = memory_mb << 20
    cgroup = None if os.environ.get(NO_CGROUP_ENV) else MemoryCgroup.create(name, limit)
    if cgroup is not None:
        return CgroupCap(cgroup)
    return WatchdogCap(limit, sessions, log)
