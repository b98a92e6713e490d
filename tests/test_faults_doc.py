"""docs/faults.md: every row names a test that exists (the suite running them shows they pass)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_fault_row_names_an_existing_test():
    doc = (ROOT / "docs" / "faults.md").read_text()
    rows = [ln for ln in doc.splitlines() if ln.startswith("| ") and not ln.startswith("| fault") and
            not ln.startswith("| check") and not ln.startswith("|---")]
    assert len(rows) >= 20
    for row in rows:
        refs = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", row)
        assert refs, f"row names no test: {row}"
        current = None
        for path, name, more in refs:
            if path:
                current = path
            assert current and (ROOT / current).is_file(), f"{current} does not exist ({row[:60]})"
            fn = name or more
            if fn:
                assert re.search(rf"^def {fn}\(", (ROOT / current).read_text(), re.M), f"{current}::{fn} does not exist"
