"""`jtel-sf verify` end to end with the real pinned toolchain, through the console entry point.

The toolchain is installed on first use (about 15 s). In CI (CI=true) these tests never skip: a
toolchain that cannot be installed fails them. Each verify run costs seconds (apex-ls, PMD), so
one run per fixture is shared by the assertions on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jtel_sf.errors import EnvironmentProblem
from jtel_sf.verify.toolchain import ApexFormatError, Toolchain, ensure_toolchain, format_apex_source

FIXTURES = Path(__file__).parent / "fixtures" / "verify"
CLASSES = "force-app/main/default/classes"


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    try:
        return ensure_toolchain()
    except EnvironmentProblem as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must be able to install the verify toolchain: {exc}")
        pytest.skip(f"verify toolchain not installable here: {exc}")


@dataclass
class Run:
    code: int
    out: str
    err: str
    temp: Path  # TMPDIR the run was given: must be left empty

    def json(self) -> dict:
        return json.loads(self.out)["result"]  # the --json envelope (jtel_sf.output)


def run_verify(cwd: Path, temp: Path, *args: str) -> Run:
    env = dict(os.environ, TMPDIR=str(temp))
    proc = subprocess.run(
        [sys.executable, "-m", "jtel_sf.cli", "verify", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, temp)


def copy_fixture(name: str, factory: pytest.TempPathFactory) -> Path:
    target = factory.mktemp(name) / name
    shutil.copytree(FIXTURES / name, target)
    return target


@pytest.fixture(scope="module")
def broken(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Run:
    project = copy_fixture("broken_project", tmp_path_factory)
    return run_verify(project, tmp_path_factory.mktemp("tmp"), "force-app", "--json")


@pytest.fixture(scope="module")
def clean(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Run:
    project = copy_fixture("clean_project", tmp_path_factory)
    return run_verify(project, tmp_path_factory.mktemp("tmp"))  # default PATH: the project's force-app


def test_each_planted_error_is_reported_at_its_file_and_line(broken: Run) -> None:
    assert broken.code == 1, broken.err
    found = {(f["path"], f["line"], f["check"], f["rule"]) for f in broken.json()["findings"]}
    assert found == {
        (f"{CLASSES}/SyntaxBroken.cls", 7, "syntax", "UnexpectedToken"),
        (f"{CLASSES}/UnknownField.cls", 12, "semantics", "Missing"),  # unknown custom field
        (f"{CLASSES}/QueryInLoop.cls", 13, "pmd", "OperationWithLimitsInLoop"),  # SOQL in a loop
        (f"{CLASSES}/Unformatted.cls", 6, "format", "prettier"),
        (f"{CLASSES}/NoMeta.cls", 1, "metadata", "missing-meta-xml"),
        (f"{CLASSES}/BareSuppression.cls", 5, "pmd", "unexplained-suppression"),
        (f"{CLASSES}/BareSuppression.cls", 12, "pmd", "unexplained-suppression"),
        (
            "force-app/main/default/layouts/Call_Log__c-Call Log Layout.layout-meta.xml",
            5,
            "metadata",
            "xml-parse",
        ),
    }
    assert "Error: verify found 8 problem(s)" in broken.err


def test_broken_summary_and_messages(broken: Run) -> None:
    document = broken.json()
    assert document["ok"] is False
    counts = {"syntax": 1, "semantics": 1, "pmd": 3, "format": 1, "metadata": 2, "platform": 0}
    assert document["counts"] == counts
    assert document["files"] == {"apex": 7, "xml": 9}
    messages = {f["rule"]: f["message"] for f in document["findings"]}
    assert "Missing_Field__c" in messages["Missing"]
    assert messages["UnexpectedToken"] == "Unexpected token ';'."
    assert [n["rule"] for n in document["notes"]] == ["ApexDoc", "ApexDoc"]  # severity 4: not failing


def test_runs_leave_no_temp_folders(broken: Run, clean: Run) -> None:
    assert list(broken.temp.iterdir()) == []
    assert list(clean.temp.iterdir()) == []


def test_clean_fixture_passes(clean: Run) -> None:
    assert clean.code == 0, clean.out + clean.err
    (summary,) = clean.out.splitlines()
    assert summary.startswith(
        "verify: OK (syntax 0, semantics 0, pmd 0, format 0, metadata 0, platform 0) in 1 Apex and 3 XML"
    )
    assert "Error" not in clean.err


def test_fix_formats_in_place_then_checks_a_bare_folder(
    toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A folder outside any SFDX project: apex-ls runs on a temp project around it.
    bare = tmp_path_factory.mktemp("bare") / "src"
    source = FIXTURES / "broken_project" / "force-app" / "main" / "default"
    shutil.copytree(source / "objects", bare / "objects")
    for name in (
        "Unformatted.cls",
        "Unformatted.cls-meta.xml",
        "UnknownField.cls",
        "UnknownField.cls-meta.xml",
    ):
        (bare / "classes").mkdir(exist_ok=True)
        shutil.copyfile(source / "classes" / name, bare / "classes" / name)
    original = (bare / "classes" / "Unformatted.cls").read_text()

    run = run_verify(bare.parent, tmp_path_factory.mktemp("tmp"), "src", "--fix")

    fixed = (bare / "classes" / "Unformatted.cls").read_text()
    assert fixed != original
    assert fixed == format_apex_source(original, str(bare / "classes" / "Unformatted.cls"))
    assert "  public static String hello() {\n    return 'hello';\n  }\n" in fixed
    lines = run.out.splitlines()
    assert lines[:-1] == [
        "src/classes/UnknownField.cls:12:12: [semantics/Missing] "
        "Unknown field 'Missing_Field__c' on SObject 'Schema.Call_Log__c'"
    ]
    assert "format 0" in lines[-1] and "formatted 1 file(s)" in lines[-1]
    assert run.code == 1


def test_format_apex_source_uses_the_project_options(toolchain: Toolchain) -> None:
    long_call = (
        "List<String> items = new List<String>{ 'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta' };"
    )
    text = "public class A { public void m() { " + long_call + " } }"
    formatted = format_apex_source(text, "force-app/main/default/classes/A.cls")
    # 104 characters: one line at printWidth 140 (prettier's default 80 would break it)
    assert (
        "    List<String> items = new List<String>{ 'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta' };\n"
        in (formatted)
    )
    assert formatted.startswith("public class A {\n  public void m() {\n")  # tabWidth 2
    assert format_apex_source(formatted, "A.cls") == formatted
    with pytest.raises(ApexFormatError, match="Unexpected token"):
        format_apex_source("public class A { Integer x = ; }", "A.cls")
