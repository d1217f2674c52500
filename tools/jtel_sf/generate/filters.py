"""Jinja2 filters that turn contract data into Apex, XML and Markdown text."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from ..contract import FieldSpec

TEXT_KINDS = ("salesforceId", "string", "phone")


def apex_string(value: Any) -> str:
    """An Apex string literal: single quotes, with backslash, quote and control characters escaped."""
    text = str(value)
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def apex_long(value: int) -> str:
    return f"{int(value)}L"


def apex_field_def(spec: FieldSpec) -> str:
    """``new JtelFieldDef(...)`` with the fluent calls for required, range and max length."""
    args = ", ".join(apex_string(v) for v in (spec.name, spec.kind, spec.field))
    parts = [f"new JtelFieldDef({args})"]
    if spec.required:
        parts.append(".isRequired()")
    if spec.kind == "integer" and (spec.min is not None or spec.max is not None):
        low = "null" if spec.min is None else apex_long(spec.min)
        high = "null" if spec.max is None else apex_long(spec.max)
        parts.append(f".range({low}, {high})")
    if spec.kind in TEXT_KINDS and spec.max_length is not None:
        parts.append(f".withMaxLength({int(spec.max_length)})")
    return "".join(parts)


def doc(value: Any) -> str:
    """Text safe inside an ApexDoc ``/** ... */`` comment, on one line."""
    return " ".join(str(value).replace("*/", "* /").split())


def xml(value: Any) -> str:
    """Text safe inside an XML element or attribute value."""
    return escape(str(value), {'"': "&quot;"})


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    if value is None:
        return ""
    return " ".join(str(value).replace("|", "\\|").split())


def minified_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


FILTERS = {
    "apex_string": apex_string,
    "apex_long": apex_long,
    "apex_field_def": apex_field_def,
    "doc": doc,
    "xml": xml,
    "md_cell": md_cell,
    "minified_json": minified_json,
}


def limits(spec: FieldSpec) -> str:
    """The range of an integer field or the maximum length of a text field, for docs/fields.md."""
    if spec.kind == "integer" and (spec.min is not None or spec.max is not None):
        low = "" if spec.min is None else str(spec.min)
        high = "" if spec.max is None else str(spec.max)
        return f"{low}..{high}"
    if spec.kind in TEXT_KINDS and spec.max_length is not None:
        return f"max {spec.max_length}"
    return ""


FILTERS["limits"] = limits
