"""Small SOQL helpers (quoting literals: SOQL and SOSL Reference, "Quoted String Escape Sequences")."""

from __future__ import annotations

from collections.abc import Iterable


def quote(value: str) -> str:
    """A SOQL string literal for ``value``."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def in_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` for an ``IN`` clause."""
    return "(" + ", ".join(quote(v) for v in values) + ")"
