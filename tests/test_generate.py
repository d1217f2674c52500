"""jtel-sf generate: the committed files are exactly what it writes, --check finds drift, settings
change the right outputs. Everything runs through the real entry point (jtel_sf.cli.main).

These tests format Apex with the pinned prettier toolchain (jtel_sf.verify.toolchain, installed on
first use); CI installs it, so nothing here is skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jtel_sf.cli import main
from jtel_sf.generate.render import (
    CLASSES_DIR,
    CUSTOM_METADATA_DIR,
    FIELDS_DOC,
    PERMISSION_SETS_DIR,
    ROW_FIELDS_DIR,
    TEST_CLASSES_DIR,
)

REPO = Path(__file__).resolve().parents[1]
RESOURCE = f"{CLASSES_DIR}/JtelCallStatisticsResource.cls"
SETTINGS_RECORD = f"{CUSTOM_METADATA_DIR}/JtelSettings.Default.md-meta.xml"
PERMISSION_SET = f"{PERMISSION_SETS_DIR}/JtelCallStatisticsIntegration.permissionset-meta.xml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``jtel-sf ARGS`` through the console-script entry point; (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's SFDX part (force-app, docs, sfdx-project.json, .prettierrc) as cwd."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("sfdx-project.json", ".prettierrc"):
        shutil.copy2(REPO / name, root / name)
    for name in ("force-app", "docs"):
        shutil.copytree(REPO / name, root / name)
    monkeypatch.chdir(root)
    return root


# --- the drift test CI relies on -----------------------------------------------------------------


def test_generate_writes_exactly_the_committed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    out_dir = tmp_path / "out"
    code, out, err = run(["generate", "--out", str(out_dir)], capsys)
    assert code == 0, err
    generated = tree(out_dir)
    assert len(generated) >= 17 + 8 + 3, sorted(generated)
    differing = [rel for rel, content in generated.items() if (REPO / rel).read_bytes() != content]
    missing = [rel for rel in generated if not (REPO / rel).is_file()]
    assert not missing, f"generated but not committed: {missing}"
    assert not differing, f"committed files differ from what jtel-sf generate writes: {differing}"
    assert f"{len(generated)} files: {len(generated)} written" in out


def test_check_passes_on_the_committed_project(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    before = tree(REPO / "force-app")
    code, out, err = run(["generate", "--check"], capsys)
    assert code == 0, err
    assert "generated files are up to date" in out
    assert tree(REPO / "force-app") == before


def test_generated_outputs_cover_the_contract() -> None:
    from jtel_sf.contract import load_cases, load_fields

    for spec in load_fields():
        assert (REPO / ROW_FIELDS_DIR / f"{spec.field}.field-meta.xml").is_file(), spec.field
    test_class = (REPO / TEST_CLASSES_DIR / "JtelContractCasesTest.cls").read_text(encoding="utf-8")
    apex_cases = [c for c in load_cases() if c.runs_on_target("apex")]
    assert test_class.count("@IsTest\n  static void ") == len(apex_cases)
    for case in apex_cases:
        assert f"static void {case.name}()" in test_class
    docs = (REPO / FIELDS_DOC).read_text(encoding="utf-8")
    assert all(f"`{spec.name}`" in docs for spec in load_fields())


# --- --check -------------------------------------------------------------------------------------


def test_check_names_a_changed_and_a_missing_file_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = project / SETTINGS_RECORD
    changed.write_text(changed.read_text(encoding="utf-8").replace("Europe/Berlin", "Europe/Paris"))
    missing = project / ROW_FIELDS_DIR / "CONNRES__c.field-meta.xml"
    missing.unlink()
    before = tree(project)

    code, out, err = run(["generate", "--check"], capsys)

    assert code == 1
    assert f"drifted    {SETTINGS_RECORD}" in out
    assert f"missing    {ROW_FIELDS_DIR}/CONNRES__c.field-meta.xml" in out
    assert "Error: 2 of" in err
    assert SETTINGS_RECORD in err and "CONNRES__c.field-meta.xml" in err
    assert tree(project) == before


def test_generate_repairs_what_check_found(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / RESOURCE).write_text("// edited by hand\n", encoding="utf-8")
    (project / FIELDS_DOC).unlink()

    code, out, _ = run(["generate"], capsys)

    assert code == 0
    assert f"wrote      {RESOURCE}" in out and f"wrote      {FIELDS_DOC}" in out
    assert "2 written" in out
    assert (project / RESOURCE).read_bytes() == (REPO / RESOURCE).read_bytes()
    assert run(["generate", "--check"], capsys)[0] == 0


def test_check_fails_when_an_object_field_appears_without_its_permission(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    field = project / "force-app/main/default/objects/JtelCall__c/fields/Extra__c.field-meta.xml"
    field.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        "    <fullName>Extra__c</fullName>\n    <label>Extra</label>\n    <length>10</length>\n"
        "    <type>Text</type>\n</CustomField>\n",
        encoding="utf-8",
    )
    code, out, _ = run(["generate", "--check"], capsys)
    assert code == 1
    assert f"drifted    {PERMISSION_SET}" in out
    assert run(["generate"], capsys)[0] == 0
    assert "<field>JtelCall__c.Extra__c</field>" in (project / PERMISSION_SET).read_text(encoding="utf-8")


# --- settings ------------------------------------------------------------------------------------

INVALID_SETTINGS = [
    ("time_zone", 'time_zone = "Europe/Atlantis"'),
    ("time_zone", 'time_zone = "Factory"'),
    ("retry_http_status", "retry_http_status = 423"),
    ("retry_http_status", "retry_http_status = 200"),
    ("url_path", 'url_path = "jtel ACD/write"'),
    ("url_path", 'url_path = "/jtelACD/write"'),
    ("url_path", 'url_path = "jtelACD/it\'s"'),
    ("url_path", 'url_path = "jtelACD/wr*te"'),
    ("agent_match_field", 'agent_match_field = "Community Nickname"'),
    ("agent_match_field", 'agent_match_field = "Nick__name"'),
    ("api_version", 'api_version = "61"'),
    ("api_version", 'api_version = "61.1"'),
    ("api_version", "api_version = 61.0"),
    ("task_for_unanswered_calls", 'task_for_unanswered_calls = "yes"'),
    ("fallback_owner_username", 'fallback_owner_username = "admin"'),
    ("subject_template", f'subject_template = "{"x" * 256}"'),
    ("permission_set", 'permission_set = "Jtel Integration"'),
]


@pytest.mark.parametrize(("key", "line"), INVALID_SETTINGS)
def test_an_invalid_setting_is_a_usage_error_naming_the_key_and_writes_nothing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, line: str
) -> None:
    config = tmp_path / "jtel-sf.toml"
    config.write_text(line + "\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = tree(project)

    for args in (["--out", str(out_dir)], []):
        code, _, err = run(["generate", "--config", str(config), *args], capsys)
        assert code == 2
        assert f"Error: {config}: {key} = " in err
    assert list(out_dir.iterdir()) == []
    assert tree(project) == before


def test_an_unknown_settings_key_is_named(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('time_zones = "Europe/Berlin"\n', encoding="utf-8")
    code, _, err = run(["generate", "--config", str(config), "--check"], capsys)
    assert code == 2
    assert "unknown key 'time_zones'" in err


def test_a_missing_or_broken_settings_file_is_a_usage_error(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["generate", "--config", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "settings file not found" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("url_path = \n", encoding="utf-8")
    code, _, err = run(["generate", "--config", str(broken)], capsys)
    assert code == 2 and "not valid TOML" in err


def _changed(out_dir: Path) -> set[str]:
    return {rel for rel, content in tree(out_dir).items() if (REPO / rel).read_bytes() != content}


def test_url_path_and_time_zone_change_exactly_their_outputs(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jtel-sf.toml"
    config.write_text('url-path = "acme/jtel/calls"\ntime_zone = "America/New_York"\n', encoding="utf-8")
    out_dir = tmp_path / "out"

    code, _, err = run(["generate", "--config", str(config), "--out", str(out_dir)], capsys)

    assert code == 0, err
    assert _changed(out_dir) == {RESOURCE, SETTINGS_RECORD}
    assert "@RestResource(urlMapping='/acme/jtel/calls')" in (out_dir / RESOURCE).read_text(encoding="utf-8")
    record = (out_dir / SETTINGS_RECORD).read_text(encoding="utf-8")
    assert '<value xsi:type="xsd:string">America/New_York</value>' in record
    assert "Europe/Berlin" not in record


def test_other_settings_reach_the_record_the_metas_and_the_permission_set_name(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jtel-sf.toml"
    config.write_text(
        'api_version = "62.0"\nretry_http_status = 500\ntask_for_unanswered_calls = false\n'
        'fallback_owner_username = "owner@example.com"\nagent_match_field = "Jtel_UID__c"\n'
        'subject_template = "Call <{caller}> & more"\npermission_set = "AcmeJtel"\n',
        encoding="utf-8",
    )
    out_dir = tmp_path / "out"
    code, _, err = run(["generate", "--config", str(config), "--out", str(out_dir)], capsys)
    assert code == 0, err
    record = (out_dir / SETTINGS_RECORD).read_text(encoding="utf-8")
    assert '<value xsi:type="xsd:double">500.0</value>' in record
    assert '<value xsi:type="xsd:boolean">false</value>' in record
    assert '<value xsi:type="xsd:string">owner@example.com</value>' in record
    assert '<value xsi:type="xsd:string">Jtel_UID__c</value>' in record
    assert "Call &lt;{caller}&gt; &amp; more" in record
    assert "<apiVersion>62.0</apiVersion>" in (out_dir / f"{RESOURCE}-meta.xml").read_text(encoding="utf-8")
    assert (out_dir / PERMISSION_SETS_DIR / "AcmeJtel.permissionset-meta.xml").is_file()
    assert not (out_dir / PERMISSION_SET).exists()


def test_settings_come_from_the_project_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.jtel-sf]\ntime_zone = "Europe/Vienna"\n', encoding="utf-8"
    )
    code, out, _ = run(["generate", "--check"], capsys)
    assert code == 1 and f"drifted    {SETTINGS_RECORD}" in out
    run(["generate"], capsys)
    assert "Europe/Vienna" in (project / SETTINGS_RECORD).read_text(encoding="utf-8")

    # jtel-sf.toml wins over pyproject.toml
    (project / "jtel-sf.toml").write_text('time_zone = "Europe/Zurich"\n', encoding="utf-8")
    run(["generate"], capsys)
    assert "Europe/Zurich" in (project / SETTINGS_RECORD).read_text(encoding="utf-8")

    (project / "jtel-sf.toml").write_text('time_zone = "Mars/Olympus"\n', encoding="utf-8")
    code, _, err = run(["generate"], capsys)
    assert code == 2 and "jtel-sf.toml: time_zone = 'Mars/Olympus'" in err


def test_outside_a_project_generate_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["generate", "--check"], capsys)
    assert code == 2 and "sfdx-project.json" in err


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["generate", "--help"], capsys)
    assert code == 0
    for option in ("--config", "--out", "--check"):
        assert option in out
