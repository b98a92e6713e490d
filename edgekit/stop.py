"""A stop request (SIGTERM, Ctrl-C) that Python swallowed, raised again where the run next reports.

The CLI's signal handler raises the interrupt wherever the main thread is. When that is inside a
``__del__`` or a weakref callback, Python prints "Exception ignored in" and goes on; the hook below
keeps such an interrupt instead, and :func:`raise_if_swallowed` — called by every progress report
(:class:`edgekit.progress.StepProgress`), so between epochs, trials and measurements — raises it
there, so the run still takes its one clean stop path.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_swallowed: list[KeyboardInterrupt] = []


def _hook(args: Any) -> None:
    if isinstance(args.exc_value, KeyboardInterrupt):
        _swallowed.append(args.exc_value)
        return
    sys.__unraisablehook__(args)


def install() -> Any:
    """Keep swallowed interrupts from now on; returns the previous hook for :func:`restore`."""
    _swallowed.clear()
    old = sys.unraisablehook
    sys.unraisablehook = _hook
    return old


def restore(old: Any) -> None:
    sys.unraisablehook = old
    _swallowed.clear()


def pending() -> bool:
    """A swallowed interrupt not raised again yet."""
    return bool(_swallowed)


def raise_if_swallowed() -> None:
    """Raise a swallowed interrupt (once; in the main thread only, where the signal was meant to stop)."""
    if _swallowed and threading.current_thread() is threading.main_thread():
        raise _swallowed.pop()
