"""docs/schemas.md is generated from the record dataclasses, and their docstrings list exactly their fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit import schemas

DOC = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"


@pytest.mark.parametrize("target", [t for _, t in schemas.RECORDS])
def test_docstring_fields_match_the_dataclass(target):
    assert schemas.mismatches(schemas.load(target)) == []


def test_docs_schemas_md_is_up_to_date():
    assert DOC.read_text() == schemas.render(), "regenerate: .venv/bin/python -m edgekit.schemas > docs/schemas.md"


def test_a_missing_or_extra_field_is_caught():
    from dataclasses import dataclass

    @dataclass
    class Rec:
        """A record.

        Fields:
            a   int   documented and real
            b   str   documented, not a field
        """

        a: int
        c: int

    assert schemas.mismatches(Rec) == ["test_a_missing_or_extra_field_is_caught.<locals>.Rec.c is a field but not documented",
                                       "test_a_missing_or_extra_field_is_caught.<locals>.Rec: documents 'b', which is not a field"]
