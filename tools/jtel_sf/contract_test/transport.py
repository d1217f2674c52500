"""Recording and replaying the HTTP exchanges of a contract-test run.

A recording is a directory:

- ``recording.json``: where it came from (``recordedFrom``: ``local-stand-in`` or ``org``), the
  target whose cases ran, the run's seed (a replay reuses it, so the same call ids are sent), and
  the cases it holds;
- ``exchanges/<case>.json``: every HTTP exchange of that case in order (method, path, request
  body, status, response body), scrubbed; ``exchanges/_run.json`` holds the exchanges made outside
  any case (who the running user is).

Request headers are never recorded (they carry the bearer token).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .errors import ReplayMismatch
from .scrub import Scrubber

RECORDING_FILE = "recording.json"
EXCHANGES_DIR = "exchanges"
RUN_SCOPE = "_run"  # exchanges outside any case


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


@dataclass
class RawExchange:
    scope: str
    method: str
    path: str
    request_body: bytes
    status: int
    response_body: bytes


class Recorder:
    """Collects exchanges in memory (a ``requests`` response hook) and writes them scrubbed."""

    def __init__(self) -> None:
        self.scope = RUN_SCOPE
        self.exchanges: list[RawExchange] = []
        self.sent_bodies: list[bytes] = []  # bodies whose SHA-256 keys appear in paths

    def begin(self, scope: str | None) -> None:
        self.scope = scope or RUN_SCOPE

    def attach(self, session: requests.Session) -> None:
        session.hooks.setdefault("response", []).append(self.hook)

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.exchanges.append(
            RawExchange(
                scope=self.scope,
                method=str(request.method),
                path=_path_of(str(request.url)),
                request_body=_body_bytes(request.body),
                status=response.status_code,
                response_body=response.content or b"",
            )
        )

    def note_body(self, body: bytes) -> None:
        self.sent_bodies.append(body)

    def write(self, directory: Path, scrubber: Scrubber, meta: dict[str, Any]) -> None:
        for body in self.sent_bodies:
            scrubber.alias_body_key(body)
        scoped: dict[str, list[dict[str, Any]]] = {}
        for exchange in self.exchanges:
            scoped.setdefault(exchange.scope, []).append(scrub_exchange(exchange, scrubber))
        directory.mkdir(parents=True, exist_ok=True)
        exchanges_dir = directory / EXCHANGES_DIR
        if exchanges_dir.exists():
            shutil.rmtree(exchanges_dir)
        exchanges_dir.mkdir()
        for scope, items in scoped.items():
            document = {"case": scope, "exchanges": items}
            (exchanges_dir / f"{scope}.json").write_text(_dumps(document), encoding="utf-8")
        meta = {**meta, "scopes": sorted(scoped)}
        (directory / RECORDING_FILE).write_text(_dumps(meta), encoding="utf-8")


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def scrub_exchange(exchange: RawExchange, scrubber: Scrubber) -> dict[str, Any]:
    out: dict[str, Any] = {"method": exchange.method, "path": scrubber.text(exchange.path)}
    request_json, request_text = scrubber.body(exchange.request_body, answer=False)
    if request_text is None:
        out["requestJson"] = request_json
    elif request_text:
        out["requestText"] = request_text
    out["status"] = exchange.status
    response_json, response_text = scrubber.body(exchange.response_body)
    if response_text is None:
        out["responseJson"] = response_json
    else:
        out["responseText"] = response_text
    return out


# ------------------------------------------------------------------------------------------------
# Replay
# ------------------------------------------------------------------------------------------------


@dataclass
class Recording:
    directory: Path
    meta: dict[str, Any]
    scopes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> Recording:
        meta = json.loads((directory / RECORDING_FILE).read_text(encoding="utf-8"))
        scopes = {}
        for path in sorted((directory / EXCHANGES_DIR).glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            scopes[str(document["case"])] = list(document["exchanges"])
        return cls(directory=directory, meta=meta, scopes=scopes)


_MISSING = object()


def _request_value(exchange: dict[str, Any]) -> Any:
    if "requestJson" in exchange:
        return exchange["requestJson"]
    return exchange.get("requestText", "")


def _sent_value(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    if text.strip():
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def first_difference(recorded: Any, sent: Any, where: str = "$") -> str | None:
    """Where two JSON values first differ, as ``$.a[2].b: recorded X, sent Y``; None if equal."""
    if type(recorded) is not type(sent) and not (
        isinstance(recorded, int | float)
        and isinstance(sent, int | float)
        and not isinstance(recorded, bool)
        and not isinstance(sent, bool)
    ):
        return f"{where}: recorded {_short(recorded)}, sent {_short(sent)}"
    if isinstance(recorded, dict):
        for key in recorded:
            if key not in sent:
                return f"{where}.{key}: recorded {_short(recorded[key])}, not sent"
            diff = first_difference(recorded[key], sent[key], f"{where}.{key}")
            if diff:
                return diff
        for key in sent:
            if key not in recorded:
                return f"{where}.{key}: not recorded, sent {_short(sent[key])}"
        return None
    if isinstance(recorded, list):
        for i, (a, b) in enumerate(zip(recorded, sent, strict=False)):
            diff = first_difference(a, b, f"{where}[{i}]")
            if diff:
                return diff
        if len(recorded) != len(sent):
            return f"{where}: recorded {len(recorded)} elements, sent {len(sent)}"
        return None
    return None if recorded == sent else f"{where}: recorded {_short(recorded)}, sent {_short(sent)}"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ReplayAdapter(BaseAdapter):
    """A ``requests`` transport that answers from a recording instead of the network.

    Requests of a case are matched in recorded order against (method, path, JSON body); one that
    matches no unconsumed recorded exchange of the case raises :class:`ReplayMismatch` naming the
    case and the first difference with the next recorded request.
    """

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self.recording = recording
        self.scope = RUN_SCOPE
        self._used: dict[str, list[bool]] = {
            scope: [False] * len(items) for scope, items in recording.scopes.items()
        }

    def begin(self, scope: str | None) -> None:
        self.scope = scope or RUN_SCOPE

    def unused(self, scope: str) -> list[dict[str, Any]]:
        items = self.recording.scopes.get(scope, [])
        return [item for item, used in zip(items, self._used.get(scope, []), strict=True) if not used]

    def check_upcoming(self, method: str, path: str, body: bytes) -> None:
        """Before a request that other requests must precede (the quarantine look-ups keyed by its
        body's hash), compare its body with the next recorded one to the same path, so a changed
        body is reported as such rather than as a different hash in a path."""
        items = self.recording.scopes.get(self.scope, [])
        used = self._used.get(self.scope, [])
        for item, done in zip(items, used, strict=True):
            if not done and item["method"] == method and item["path"] == path:
                diff = first_difference(_request_value(item), _sent_value(body))
                if diff:
                    label = "outside the cases" if self.scope == RUN_SCOPE else f"case {self.scope}"
                    raise ReplayMismatch(f"{label}: {method} {path}: body differs from the recording: {diff}")
                return

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        method = str(request.method)
        path = _path_of(str(request.url))
        sent = _sent_value(_body_bytes(request.body))
        items = self.recording.scopes.get(self.scope)
        label = "outside the cases" if self.scope == RUN_SCOPE else f"case {self.scope}"
        if items is None:
            raise ReplayMismatch(
                f"{label}: the recording has no exchanges for it (sent {method} {path}); record again"
            )
        used = self._used[self.scope]
        pending = [i for i, done in enumerate(used) if not done]
        for i in pending:
            item = items[i]
            if (
                item["method"] == method
                and item["path"] == path
                and first_difference(_request_value(item), sent) is None
            ):
                used[i] = True
                return self._response(item, request)
        if not pending:
            raise ReplayMismatch(f"{label}: sent {method} {path}, but the recording has no more requests")
        expected = items[pending[0]]
        if (expected["method"], expected["path"]) != (method, path):
            same = [i for i in pending if (items[i]["method"], items[i]["path"]) == (method, path)]
            if not same:
                raise ReplayMismatch(
                    f"{label}: request differs from the recording: recorded {expected['method']} "
                    f"{expected['path']}, sent {method} {path}"
                )
            expected = items[same[0]]
        diff = first_difference(_request_value(expected), sent)
        raise ReplayMismatch(f"{label}: {method} {path}: body differs from the recording: {diff}")

    @staticmethod
    def _response(item: dict[str, Any], request: requests.PreparedRequest) -> requests.Response:
        response = requests.Response()
        response.status_code = int(item["status"])
        if "responseJson" in item:
            response._content = json.dumps(item["responseJson"], ensure_ascii=False).encode("utf-8")
            content_type = "application/json;charset=UTF-8"
        else:
            response._content = str(item.get("responseText", "")).encode("utf-8")
            content_type = "text/plain;charset=UTF-8"
        response.headers = CaseInsensitiveDict({"Content-Type": content_type})
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        response.reason = "replayed"
        return response

    def close(self) -> None:  # nothing to release
        return None
