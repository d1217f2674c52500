"""Our packager against the official one: ``sf project convert source`` of force-app must give the
same package.xml and the same files as the zip ``jtel-sf deploy`` builds, so the two deploy paths
cannot drift apart.

The sf CLI (and Node 22 for it) is installed from npm into the tool cache on first use (see
tests/sf_cli); the test skips, naming the reason, only when that install is impossible here.
Known, deliberate differences are listed in ``TOLERATED`` with their reason; anything else fails.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from jtel_sf.org.package import build_package
from sf_cli import SfCli, ensure_sf_cli

REPO = Path(__file__).resolve().parents[1]
NS = "{http://soap.sforce.com/2006/04/metadata}"


@pytest.fixture(scope="module")
def sf() -> SfCli:
    found = ensure_sf_cli()
    if isinstance(found, str):
        pytest.skip(f"the Salesforce CLI cannot be installed here: {found}")
    return found


def _members(package_xml: bytes) -> dict[str, list[str]]:
    root = ET.fromstring(package_xml)
    members = {}
    for types in root.findall(f"{NS}types"):
        name = types.findtext(f"{NS}name") or ""
        # TOLERATED: the sf CLI names a report folder "Folder/"; the Metadata API Developer Guide
        # (Report, "folder") names it "Folder", which is what we write. Both mean the folder.
        members[name] = sorted(
            (m.text or "").removesuffix("/")
            if name in ("Report", "Dashboard", "Document", "EmailTemplate")
            else m.text or ""
            for m in types.findall(f"{NS}members")
        )
    return {"version": [root.findtext(f"{NS}version") or ""], **members}


def _canonical(data: bytes) -> str:
    # TOLERATED: the sf CLI re-indents the children it recomposes into an object file; whitespace
    # between XML elements carries no meaning for the Metadata API. Order and content must match.
    return ET.canonicalize(data.decode("utf-8"), strip_text=True)


def test_sf_project_convert_source_matches_our_deploy_zip(sf: SfCli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "force-app", project / "force-app")
    shutil.copy(REPO / "sfdx-project.json", project / "sfdx-project.json")
    out = tmp_path / "converted"
    done = subprocess.run(
        sf.command(
            "project", "convert", "source", "--source-dir", "force-app", "--output-dir", str(out), "--json"
        ),
        cwd=project,
        env={**sf.env(), "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    start = done.stdout.find("{")
    result = json.loads(done.stdout[start:]) if start >= 0 else {}
    assert done.returncode == 0 and result.get("status") == 0, done.stdout[-2000:] + done.stderr[-2000:]

    version = json.loads((REPO / "sfdx-project.json").read_text())["sourceApiVersion"]
    ours = zipfile.ZipFile(io.BytesIO(build_package(project / "force-app", version).to_zip()))
    our_files = {name: ours.read(name) for name in ours.namelist()}
    their_files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    assert sorted(our_files) == sorted(their_files), "the two packagers wrote different files"
    assert _members(our_files["package.xml"]) == _members(their_files["package.xml"])
    differing = []
    for name in sorted(our_files):
        if name == "package.xml" or our_files[name] == their_files[name]:
            continue
        if name.endswith(".object") and _canonical(our_files[name]) == _canonical(their_files[name]):
            continue
        differing.append(name)
    assert differing == [], f"files that differ from the sf CLI's: {differing}"
