"""The one UTC clock: ISO-8601 timestamps to the second, ``2026-12-01T20:45:00Z``."""

from __future__ import annotations

import datetime as _dt


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
