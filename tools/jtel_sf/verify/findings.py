"""One problem found by `jtel-sf verify`, and how it is printed."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

# The checks, in the order they are reported in the summary.
CHECKS = ("syntax", "semantics", "pmd", "format", "metadata", "platform")


@dataclass(frozen=True, order=True)
class Finding:
    path: str  # absolute path of the file the finding is about
    line: int  # 1-based
    column: int  # 1-based
    check: str  # one of CHECKS
    rule: str  # the tool's rule or error kind, e.g. OperationWithLimitsInLoop
    message: str

    def display_path(self, base: Path | None = None) -> str:
        """The path relative to ``base`` (default: the working directory) when it is inside it."""
        base = (base or Path.cwd()).resolve()
        try:
            return str(Path(self.path).resolve().relative_to(base))
        except ValueError:
            return self.path

    def format(self, base: Path | None = None) -> str:
        return (
            f"{self.display_path(base)}:{self.line}:{self.column}: [{self.check}/{self.rule}] {self.message}"
        )

    def to_dict(self, base: Path | None = None) -> dict[str, object]:
        data = asdict(self)
        data["path"] = self.display_path(base)
        return data


def finding(
    path: str | os.PathLike[str], line: int | None, column: int | None, check: str, rule: str, message: str
) -> Finding:
    """Build a Finding, clamping missing or zero positions to 1 (a whole-file finding)."""
    return Finding(
        path=str(path),
        line=max(int(line or 1), 1),
        column=max(int(column or 1), 1),
        check=check,
        rule=rule,
        message=" ".join(message.split()),  # one line, whatever the tool printed
    )
