"""Check the Mermaid diagrams in the Markdown docs with Mermaid's own parser (npm ``mermaid``).

GitHub renders ```` ```mermaid ```` blocks; a diagram that does not parse shows as an error box.
``check_markdown`` finds every such block and parses it with ``mermaid.parse`` in Node (headless:
jsdom stands in for the browser DOM, nothing is drawn). The pinned packages (``package.json`` +
``package-lock.json`` next to this file) are installed with ``npm ci`` into the tool cache on
first use, the same way and in the same cache as the Apex toolchain (``verify/toolchain.py``),
under ``mermaid-<hash of the pins>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentProblem
from ..verify import toolchain

HERE = Path(__file__).resolve().parent
PIN_FILES = ("package.json", "package-lock.json")
PARSER = HERE / "parse.mjs"
_BLOCK = re.compile(r"^```mermaid[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Diagram:
    path: Path
    line: int  # line of the ```mermaid fence
    text: str


@dataclass(frozen=True)
class DiagramResult:
    diagram: Diagram
    ok: bool
    kind: str | None  # Mermaid's diagram type when it parsed, e.g. "sequence", "flowchart-v2", "er"
    error: str | None


def diagrams_in(path: Path) -> list[Diagram]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        found.append(Diagram(path, text.count("\n", 0, match.start()) + 1, match.group(1)))
    return found


def _pins_hash() -> str:
    import hashlib

    digest = hashlib.sha256()
    for name in PIN_FILES:
        digest.update(name.encode())
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def install_dir() -> Path:
    return toolchain.cache_dir() / f"mermaid-{_pins_hash()}"


def _complete(root: Path) -> bool:
    return (root / toolchain.COMPLETE_MARKER).is_file() and (root / "node_modules" / "mermaid").is_dir()


def ensure_parser() -> tuple[Path, Path]:
    """(node, installed folder), installing the pinned Mermaid packages on first use."""
    node, npm = toolchain.require_node()
    root = install_dir()
    if _complete(root):
        return node, root
    with toolchain.install_lock(root.parent):
        if _complete(root):
            return node, root
        started = time.monotonic()
        toolchain.progress(f"installing the pinned Mermaid parser into {root} (first use, about 170 MB)...")
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
        try:
            toolchain.npm_ci(npm, temp, HERE, PIN_FILES, what="the Mermaid parser")
            if not (temp / "node_modules" / "mermaid").is_dir():
                raise EnvironmentProblem("npm finished but node_modules/mermaid is missing")
            (temp / toolchain.COMPLETE_MARKER).write_text(_pins_hash() + "\n")
            os.rename(temp, root)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        toolchain.progress(f"Mermaid parser installed in {time.monotonic() - started:.0f} s.")
    return node, root


def parse(diagrams: list[Diagram]) -> list[DiagramResult]:
    """Parse each diagram with the pinned mermaid.parse."""
    if not diagrams:
        return []
    node, root = ensure_parser()
    proc = subprocess.run(
        [str(node), str(PARSER), str(root)],
        input=json.dumps([d.text for d in diagrams]),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(f"the Mermaid parser did not run: {proc.stderr.strip()[-500:]}")
    answers = json.loads(proc.stdout)
    return [
        DiagramResult(d, bool(a["ok"]), a.get("type"), a.get("error"))
        for d, a in zip(diagrams, answers, strict=True)
    ]


def check_markdown(paths: list[Path]) -> list[DiagramResult]:
    """Every Mermaid block in ``paths``, parsed."""
    return parse([d for path in paths for d in diagrams_in(path)])
