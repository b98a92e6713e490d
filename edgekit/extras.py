"""Optional parts of edgekit (pyproject extras) and the one-line error when one is not installed.

The core install (``pip install edgekit``) has inspect, report and gate; ``edgekit[optimize]`` adds
TensorFlow, tf-keras, tfmot and tflite-runtime; ``edgekit[bench]`` adds adbutils and tflite-runtime.
The CLI and the Python API (``ek.optimize``, ``ek.bench``) both say which extra is missing.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from typing import Any, Callable

from edgekit.errors import EdgekitError


class ExtraMissing(EdgekitError):
    """A command needs an extra (``pip install 'edgekit[<extra>]'``) that is not installed."""

    def __init__(self, command: str, extra: str, missing: list[str]):
        self.command, self.extra, self.missing = command, extra, missing
        super().__init__(f"{command} needs the {extra} extra: pip install 'edgekit[{extra}]' "
                         f"(not installed: {', '.join(missing)})")

    def one_line(self) -> str:
        return self.message  # already the whole line: what is missing and the install command


_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([\w.-]+)["']""")
_DIST_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def missing_distributions(extra: str) -> list[str]:
    """The distributions of ``edgekit[extra]`` (pyproject.toml) that are not installed.

    Read from edgekit's installed metadata; ``[]`` when edgekit is not installed (run from a source
    tree), where a missing module is still caught when the command imports it.
    """
    try:
        requirements = importlib.metadata.requires("edgekit") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing = []
    for line in requirements:
        req, _, marker = line.partition(";")
        name = _DIST_NAME.match(req)
        if not name or extra not in _EXTRA_MARKER.findall(marker):
            continue
        try:
            importlib.metadata.distribution(name.group(1))
        except importlib.metadata.PackageNotFoundError:
            missing.append(name.group(1))
    return missing


def require_extra(extra: str, command: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` that first checks ``extra`` is installed (the check runs after click's --help)."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        missing = missing_distributions(extra)
        if missing:
            raise ExtraMissing(command, extra, missing)
        try:
            return callback(*args, **kwargs)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").partition(".")[0]
            if not top or top == "edgekit":
                raise
            raise ExtraMissing(command, extra, [top]) from None

    return run
