"""Placeholders in contract cases (docs/contract.md, "Contract cases").

- ``{{call}}`` / ``{{call:N}}``: a call id unique to the run and the case, derived from the run's
  seed so that a replay (which reuses the recorded seed) sends the very same ids;
- a JSON string that is exactly ``"{{call:int}}"`` (or ``"{{call:N:int}}"``) becomes that id as a
  JSON number;
- ``{{ref.Field}}``: a field of a record or user the case created or found;
- ``{{index}}``: the element index inside ``{"$repeat": N, "item": {...}}``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import CaseSetupError

CALL_ID_MIN = 10**17  # call ids are 18 digits: well inside jtelStatisticsPartAID's 1..10^18-1
CALL_ID_SPAN = 9 * 10**17

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_WHOLE_INT = re.compile(r"^\{\{\s*call(?::(\d+))?:int\s*\}\}$")


def call_id(seed: int, case_name: str, number: int = 1) -> int:
    """The call id for ``{{call:number}}`` of a case in a run with this seed (deterministic)."""
    digest = hashlib.sha256(f"jtel-sf contract-test/{seed}/{case_name}/{number}".encode()).hexdigest()
    return CALL_ID_MIN + int(digest, 16) % CALL_ID_SPAN


class Expander:
    """Expands one case's placeholders; remembers which call ids it handed out (in order)."""

    def __init__(
        self,
        seed: int,
        case_name: str,
        refs: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        lookup: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.seed = seed
        self.case_name = case_name
        self.refs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (refs or {}).items()}
        self.calls: dict[int, int] = {}  # number -> id, in first-use order
        self._lookup = lookup

    def call(self, number: int = 1) -> int:
        if number not in self.calls:
            self.calls[number] = call_id(self.seed, self.case_name, number)
        return self.calls[number]

    @property
    def call_ids(self) -> list[int]:
        return list(self.calls.values())

    def _token(self, token: str, index: int | None) -> Any:
        if token == "index":
            if index is None:
                raise CaseSetupError("{{index}} used outside a $repeat item")
            return index
        if token == "call" or token.startswith("call:"):
            number = token.partition(":")[2]
            if number and not number.isdigit():
                raise CaseSetupError(f"unknown placeholder {{{{{token}}}}}")
            return self.call(int(number) if number else 1)
        ref, dot, field = token.partition(".")
        if not dot or not field:
            raise CaseSetupError(f"unknown placeholder {{{{{token}}}}}")
        if ref not in self.refs:
            raise CaseSetupError(f"placeholder {{{{{token}}}}} names no record or user of the case")
        record = self.refs[ref]
        if field not in record:
            if self._lookup is None:
                raise CaseSetupError(f"placeholder {{{{{token}}}}}: the record has no field {field}")
            record[field] = self._lookup(ref, field)
        return record[field]

    def string(self, text: str, index: int | None = None) -> Any:
        whole_int = _WHOLE_INT.match(text)
        if whole_int:
            return self.call(int(whole_int.group(1) or 1))
        whole = _TOKEN.fullmatch(text)
        if whole and whole.group(1) == "index":
            return index if index is not None else self._token("index", None)
        if whole:
            value = self._token(whole.group(1), index)
            # a lone placeholder keeps its text form for text (call ids become "123...")
            return "" if value is None else str(value) if not isinstance(value, bool) else value

        def sub(match: re.Match[str]) -> str:
            value = self._token(match.group(1), index)
            return "" if value is None else str(value)

        return _TOKEN.sub(sub, text)

    def value(self, value: Any, index: int | None = None) -> Any:
        """A deep copy of ``value`` with every placeholder replaced and ``$repeat`` expanded."""
        if isinstance(value, str):
            return self.string(value, index)
        if isinstance(value, list):
            return [self.value(v, index) for v in value]
        if isinstance(value, dict):
            if "$repeat" in value:
                count = value["$repeat"]
                if not isinstance(count, int) or isinstance(count, bool) or count < 0 or "item" not in value:
                    raise CaseSetupError('"$repeat" needs a count >= 0 and an "item"')
                return [self.value(value["item"], i) for i in range(count)]
            return {k: self.value(v, index) for k, v in value.items()}
        return value
