"""Where a budget is: ``FILE:LINE`` in a TOML file (found by scanning its text), or a dotted path
such as ``budgets.rule[2].max_size`` for budgets given as a dict. Every gate error and check names it."""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _norm(header: str) -> str:
    return ".".join(p.strip().strip("\"'") for p in header.split("."))


class _Lines:
    """Find the line of a table, an array-of-tables entry, or a key inside one, by scanning text."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str, bool]] = []  # (line no, name, is_array)
        for no, line in enumerate(self.lines, 1):
            m = _HEADER.match(line)
            if m:
                self.headers.append((no, _norm(m.group(2)), m.group(1) == "[["))

    def table(self, name: str, index: int | None = None) -> tuple[int, int]:
        """(header line, end line exclusive) of table ``name`` (``index``-th entry if an array); (0, 0) if absent."""
        count = -1
        for k, (no, hname, is_arr) in enumerate(self.headers):
            if hname != name:
                continue
            count += 1
            if index is None or (is_arr and count == index):
                end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines) + 1
                return no, end
        return 0, 0

    def key(self, table: str, key: str, index: int | None = None, needle: str | None = None) -> int:
        start, end = self.table(table, index)
        if not start:
            return self.anywhere(key) or 1
        pat = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for no in range(start + 1, end):
            if pat.match(self.lines[no - 1]):
                if needle is None:
                    return no
                for k in range(no, end):  # a value spread over several lines (lists)
                    if needle in self.lines[k - 1]:
                        return k
                return no
        return start

    def anywhere(self, key: str) -> int:
        pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        return next((no for no, line in enumerate(self.lines, 1) if pat.match(line)), 0)


class Locator:
    """Names places in budgets; subclasses for files and dicts."""

    section = "budgets"

    @property
    def rule_section(self) -> str:
        return f"{self.section}.rule"

    def table(self) -> str:
        raise NotImplementedError

    def default(self, key: str) -> str:
        raise NotImplementedError

    def rule(self, index: int) -> str:
        raise NotImplementedError

    def rule_key(self, index: int, key: str, needle: str | None = None) -> str:
        raise NotImplementedError


class FileLocator(Locator):
    def __init__(self, path: Path, text: str, section: str):
        self.path = path
        self.section = section
        self.lines = _Lines(text)

    def _at(self, line: int) -> str:
        return f"{self.path}:{line}"

    def table(self) -> str:
        start = self.lines.table(self.section)[0]
        return self._at(start or self.lines.anywhere(self.section.rsplit(".", 1)[-1]) or 1)

    def default(self, key: str) -> str:
        return self._at(self.lines.key(self.section, key))

    def rule(self, index: int) -> str:
        return self._at(self.lines.table(self.rule_section, index)[0] or 1)

    def rule_key(self, index: int, key: str, needle: str | None = None) -> str:
        return self._at(self.lines.key(self.rule_section, key, index, needle=needle))


class DictLocator(Locator):
    def table(self) -> str:
        return self.section

    def default(self, key: str) -> str:
        return f"{self.section}.{key}"

    def rule(self, index: int) -> str:
        return f"{self.rule_section}[{index + 1}]"

    def rule_key(self, index: int, key: str, needle: str | None = None) -> str:
        return f"{self.rule(index)}.{key}"
