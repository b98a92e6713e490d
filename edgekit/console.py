"""Rich consoles for the CLI: full width in a terminal, a readable fixed width in logs and files."""

from __future__ import annotations

import shutil

from rich.console import Console


def wide_console(stderr: bool = False) -> Console:
    """A console that keeps tables readable when output goes to a file or CI log (no terminal)."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=max(140, shutil.get_terminal_size((140, 40)).columns))
