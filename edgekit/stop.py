"""Stop requests (SIGTERM, Ctrl-C): recorded here, so an interrupt that does not arrive whole still stops.

The CLI's signal handler records the interrupt (:func:`request`) and raises it wherever the main
thread is. Two places would lose it:

* inside a ``__del__`` or a weakref callback Python prints "Exception ignored in" and goes on; the
  hook installed by :func:`install` keeps such an interrupt instead, and :func:`raise_if_swallowed` —
  called by every progress report (:class:`edgekit.progress.StepProgress`), so between epochs,
  trials and measurements — raises it there;
* code that turns it into another error (TensorFlow's ``tf_stack`` asserts "Concurrent access?" when
  it passes through a Keras ``fit``); a handler that catches broad errors and goes on (a search
  trial) calls :func:`raise_if_requested` first.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_requests: list[KeyboardInterrupt] = []    # this command's stop signals (Terminated for SIGTERM)
_swallowed: list[KeyboardInterrupt] = []   # those Python swallowed and nothing raised again yet


def request(exc: KeyboardInterrupt) -> None:
    """The signal handler's record of a stop, before it raises ``exc``."""
    _requests.append(exc)


def requested() -> KeyboardInterrupt | None:
    """The first stop request of this command, if any."""
    return _requests[0] if _requests else None


def _hook(args: Any) -> None:
    if isinstance(args.exc_value, KeyboardInterrupt):
        _swallowed.append(args.exc_value)
        return
    sys.__unraisablehook__(args)


def install() -> Any:
    """A command starts: no stop requested; swallowed interrupts are kept. Returns the previous hook."""
    clear()
    old = sys.unraisablehook
    sys.unraisablehook = _hook
    return old


def restore(old: Any) -> None:
    sys.unraisablehook = old
    clear()


def clear() -> None:
    """The stop has been reported (or a new command starts)."""
    _requests.clear()
    _swallowed.clear()


def pending() -> bool:
    """A swallowed interrupt not raised again yet."""
    return bool(_swallowed)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def raise_if_swallowed() -> None:
    """Raise a swallowed interrupt (once; in the main thread only, where the signal was meant to stop)."""
    if _swallowed and _main_thread():
        raise _swallowed.pop()


def raise_if_requested() -> None:
    """Raise the stop request, if any (main thread only): for handlers that would otherwise carry on."""
    if _requests and _main_thread():
        _swallowed.clear()
        raise _requests[0]
