"""Facts the hand-written Apex shares with the Python side, checked so they cannot drift apart.

Apex never runs here, so these tests read the Apex source as text: the settings defaults in
JtelSettings.cls, and the row-key vector in JtelPayloadParserTest.cls, which the Python engine
must reproduce (the same body must get the same key in an org and in the local endpoint).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jtel_sf.engine.body import parse_body
from jtel_sf.settings import MAX_RETENTION_DAYS, MIN_ROW_RETENTION_DAYS, Settings

CLASSES = Path(__file__).resolve().parents[1] / "force-app" / "main" / "default" / "classes"
TEST_CLASSES = Path(__file__).resolve().parents[1] / "force-app" / "test" / "default" / "classes"


def _apex_string_constant(source: str, name: str) -> str:
    match = re.search(rf"static final String {name} = '((?:[^'\\]|\\.)*)';", source)
    assert match, f"{name} not found"
    return match.group(1).replace("\\'", "'").replace("\\\\", "\\")


def test_apex_settings_defaults_equal_the_python_defaults() -> None:
    source = (CLASSES / "JtelSettings.cls").read_text(encoding="utf-8")
    defaults = Settings()
    assert _apex_string_constant(source, "DEFAULT_TIME_ZONE") == defaults.time_zone
    assert _apex_string_constant(source, "DEFAULT_AGENT_MATCH_FIELD") == defaults.agent_match_field
    assert _apex_string_constant(source, "DEFAULT_SUBJECT_TEMPLATE") == defaults.subject_template
    assert _apex_integer_constant(source, "DEFAULT_ROW_RETENTION_DAYS") == defaults.row_retention_days
    quarantine_days = defaults.quarantine_retention_days
    assert _apex_integer_constant(source, "DEFAULT_QUARANTINE_RETENTION_DAYS") == quarantine_days
    assert _apex_integer_constant(source, "MIN_ROW_RETENTION_DAYS") == MIN_ROW_RETENTION_DAYS
    assert _apex_integer_constant(source, "MAX_RETENTION_DAYS") == MAX_RETENTION_DAYS


def _apex_integer_constant(source: str, name: str) -> int:
    match = re.search(rf"static final Integer {name} = (-?[0-9]+);", source)
    assert match, f"{name} not found"
    return int(match.group(1))


def test_the_apex_row_key_vector_is_what_the_python_engine_computes() -> None:
    source = (TEST_CLASSES / "JtelPayloadParserTest.cls").read_text(encoding="utf-8")
    test = source[source.index("computesTheSameRowKeyAsThePythonEngine") :]
    body = _apex_string_constant(test.replace("String body =", "static final String BODY ="), "BODY")
    expected = re.search(r"'([0-9a-f]{64})'", test)
    assert expected, "row key literal not found"
    parsed = parse_body(body.encode("utf-8"))
    assert len(parsed.elements) == 1
    assert parsed.elements[0].row_key == expected.group(1)


def test_every_apex_class_has_apexdoc_and_a_sharing_keyword() -> None:
    for path in sorted(CLASSES.glob("*.cls")):
        source = path.read_text(encoding="utf-8")
        assert source.lstrip().startswith("/**"), f"{path.name}: no ApexDoc on the class"
        assert "@description" in source.split("*/", 1)[0], f"{path.name}: class ApexDoc has no @description"
        declaration = re.search(r"^(?:global|public|private)[^{\n]*\bclass\b[^{\n]*", source, re.MULTILINE)
        assert declaration, f"{path.name}: no class declaration"
        if "@IsTest" not in source.split(declaration.group(0))[0]:
            assert _sharing_is_declared(path.name, source, declaration.group(0))


# The classes allowed to run without sharing, and why (each class comment says it at length).
WITHOUT_SHARING = {
    "JtelTaskAccess.cls": "the call's one Task is updated even when an agent owns it (issue 9 point 8)",
    "JtelRetentionDml.cls": "retention deletes rows and quarantine records of another user (issue 13)",
}


def _sharing_is_declared(name: str, source: str, declaration: str) -> bool:
    if re.search(r"\b(with|inherited) sharing\b", declaration):
        return True
    assert re.search(r"\bwithout sharing\b", declaration), f"{name}: no sharing keyword"
    assert name in WITHOUT_SHARING, f"{name}: without sharing is allowed only in {sorted(WITHOUT_SHARING)}"
    header = source.split(declaration)[0]
    assert "Why system mode" in header, f"{name}: a without sharing class says why in its class comment"
    return True


def test_a_class_without_sharing_outside_the_allowed_list_is_reported() -> None:
    other = "public without sharing class JtelOther"
    with pytest.raises(AssertionError, match="allowed only in"):
        _sharing_is_declared("JtelOther.cls", "/** x */\n" + other + " {", other)
    access = "public without sharing class JtelTaskAccess"
    with pytest.raises(AssertionError, match="says why"):
        _sharing_is_declared("JtelTaskAccess.cls", "/** x */\n" + access + " {", access)
