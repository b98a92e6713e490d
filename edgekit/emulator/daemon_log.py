"""The device daemon's log: one timestamped line per event on stderr (``run/<port>/daemon.log``)."""

from __future__ import annotations

import sys
import time


def log(msg: str) -> None:
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()
