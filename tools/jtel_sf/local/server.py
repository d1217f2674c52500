"""The local endpoint: an HTTP server that answers like an org with the endpoint deployed.

Paths and JSON shapes follow Salesforce's: ``/services/oauth2/token`` (client credentials),
``/services/oauth2/userinfo``, ``/services/apexrest/<url_path>`` and a small part of
``/services/data/vNN.N/`` (sObject create/get/delete, external-Id get, the ``Rows`` child
relationship of a call, one query shape). Built on the standard library's ThreadingHTTPServer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from jtel_sf.engine import body as body_mod
from jtel_sf.engine.answers import Answer, answer, batch_answer
from jtel_sf.settings import Settings

from .store import FAULTS, KEY_PREFIXES, ROW, Busy, RequiredFieldMissing, Store

MAX_BODY_BYTES = 16 * 1024 * 1024
NOT_FOUND_BODY = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
INVALID_CLIENT = {"error": "invalid_client", "error_description": "invalid client credentials"}
_DATA_RE = re.compile(r"^/services/data/v(\d+\.\d+)(/.*)?$")
_QUERY_RE = re.compile(
    r"^\s*SELECT\s+Id\s*,\s*(\w+)\s+FROM\s+User\s+WHERE\s+IsActive\s*=\s*true\s+AND\s+(\w+)\s*!=\s*null"
    r"\s+LIMIT\s+1\s*$",
    re.IGNORECASE,
)



TEST_HOOK_PATH = "/jtel-sf/test-hook"


def check_fault(fault: str | None) -> str | None:
    """A known simulated fault (see Store.simulate), or None."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown hook {fault!r}; known: {', '.join(FAULTS)}")
    return fault

class _Reply(Exception):
    """Raised inside a handler to send a JSON answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback here; the local endpoint logs one line instead.
        error = sys.exc_info()[1]
        if not self.app.quiet and not isinstance(error, ConnectionError):
            with contextlib.suppress(OSError, ValueError):
                print(f"connection error from {client_address[0]}: {type(error).__name__}", file=self.app.log)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "jtel-sf-local"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _log instead

    def _log(self, status: int, started: float) -> None:
        app = self.server.app
        if app.quiet:
            return
        path = urlsplit(self.path).path  # never the query string
        ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(OSError, ValueError):
            print(f"{self.command} {path} {status} {ms:.1f}ms", file=app.log, flush=True)

    def _send(self, status: int, body: Any, started: float, *, raw: bytes | None = None) -> None:
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode("utf-8"))
        self.send_response(status)
        if payload or body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        # Headers and body in one write: two small writes meet Nagle and delayed ACK (40 ms a request).
        self._headers_buffer.append(b"\r\n")
        if payload and self.command != "HEAD":
            self._headers_buffer.append(payload)
        self._log(status, started)  # before the answer leaves, so a client that got it sees the line
        self.flush_headers()

    def _read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._read_chunked()
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _Reply(400, [{"errorCode": "BAD_REQUEST", "message": "Invalid Content-Length"}]) from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise _Reply(
                413, [{"errorCode": "REQUEST_TOO_LARGE", "message": "The request body is too large"}]
            )
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise _Reply(
                    413, [{"errorCode": "REQUEST_TOO_LARGE", "message": "The request body is too large"}]
                )
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _bearer_user(self) -> str:
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        user = (
            self.server.app.user_for_token(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        )
        if user is None:
            raise _Reply(401, INVALID_SESSION)
        return user

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body() if self.command in ("POST", "PATCH", "PUT") else b""
            status, reply = self._route(urlsplit(self.path), body)
            if isinstance(reply, Answer):
                self._send(reply.http, reply.body, started)
            else:
                self._send(status, reply, started)
        except _Reply as r:
            self._send(r.status, r.body, started)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # the server never answers with a traceback
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": type(exc).__name__}], started)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = do_HEAD = _dispatch

    # -- routing -----------------------------------------------------------------------------
    def _route(self, url: Any, body: bytes) -> tuple[int, Any]:
        app = self.server.app
        path = url.path.rstrip("/") or "/"
        if path == "/services/oauth2/token":
            self._only("POST")
            return app.token(body, self.headers.get("Content-Type") or "")
        if path == "/services/oauth2/userinfo":
            self._only("GET", "POST")
            return 200, app.userinfo(self._bearer_user())
        if path.startswith("/services/apexrest/"):
            self._bearer_user()
            if path[len("/services/apexrest/") :] != app.settings.url_path.strip("/"):
                raise _Reply(404, [{"errorCode": "NOT_FOUND", "message": "Could not find a match for URL"}])
            if self.command != "POST":
                raise _Reply(
                    405,
                    [
                        {
                            "errorCode": "METHOD_NOT_ALLOWED",
                            "message": f"HTTP Method '{self.command}' not allowed. Allowed are POST",
                        }
                    ],
                )
            return 0, app.endpoint(body)
        if path == TEST_HOOK_PATH:
            self._bearer_user()
            self._only("POST")
            return 200, app.set_fault(body)
        match = _DATA_RE.match(path)
        if match:
            self._bearer_user()
            return self._data(match.group(1), match.group(2) or "/", url.query, body)
        raise _Reply(404, NOT_FOUND_BODY)

    def _only(self, *methods: str) -> None:
        if self.command not in methods:
            raise _Reply(
                405,
                [{"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{self.command}' not allowed"}],
            )

    def _data(self, version: str, rest: str, query: str, body: bytes) -> tuple[int, Any]:
        app = self.server.app
        parts = [unquote(p) for p in rest.strip("/").split("/") if p]
        if parts == ["query"]:
            self._only("GET")
            q = parse_qs(query).get("q", [""])[0]
            return 200, app.query(version, q)
        if not parts or parts[0] != "sobjects" or len(parts) < 2:
            raise _Reply(404, NOT_FOUND_BODY)
        sobject = parts[1]
        if sobject not in KEY_PREFIXES:
            raise _Reply(404, NOT_FOUND_BODY)
        if len(parts) == 2:
            self._only("POST")
            return app.create(sobject, body)
        if len(parts) == 3:
            if self.command == "DELETE":
                if not app.store.delete(parts[2], sobject):
                    raise _Reply(404, NOT_FOUND_BODY)
                return 204, None
            self._only("GET")
            found = app.store.get(parts[2], sobject)
            if found is None:
                raise _Reply(404, NOT_FOUND_BODY)
            return 200, app.with_attributes(version, sobject, found[1])
        if len(parts) == 4:
            self._only("GET")
            if sobject == "JtelCall__c" and parts[3] == "Rows":
                found = app.store.get(parts[2], sobject)
                if found is None:
                    raise _Reply(404, NOT_FOUND_BODY)
                records = [app.with_attributes(version, ROW, r) for r in app.store.children(found[1]["Id"])]
                return 200, {"totalSize": len(records), "done": True, "records": records}
            record = app.store.get_by_external_id(sobject, parts[2], parts[3])
            if record is None:
                raise _Reply(404, NOT_FOUND_BODY)
            return 200, app.with_attributes(version, sobject, record)
        raise _Reply(404, NOT_FOUND_BODY)


class LocalServer:
    """The local endpoint in a background thread.

    ``db_path=None`` uses a temporary database that is removed by :meth:`stop`. Without
    ``client_id``/``client_secret`` fresh credentials are generated (see the attributes).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: Path | str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        settings: Settings | None = None,
        quiet: bool = False,
        *,
        log: TextIO | None = None,
        busy_timeout_ms: int = 5000,
        fault: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.settings = settings or Settings()
        self.quiet = quiet
        self.log = log or sys.stderr
        self.client_id = client_id or "jtel-local-" + secrets.token_hex(8)
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self._tmpdir: str | None = None
        if db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="jtel-sf-local-")
            db_path = Path(self._tmpdir) / "local.sqlite"
        self.db_path = Path(db_path)
        self.busy_timeout_ms = busy_timeout_ms
        self.fault = check_fault(fault)
        self.store: Store | None = None  # type: ignore[assignment]
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tokens: dict[str, str] = {}
        self._tokens_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------
    def bind(self) -> None:
        """Open the database and bind the socket (no requests served yet)."""
        if self._httpd is not None:
            return
        self.store = Store(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        self.store.fault = self.fault
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.app = self
        self.port = self._httpd.server_address[1]

    def start(self) -> LocalServer:
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="jtel-sf-local",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.bind()
        assert self._httpd is not None
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join(timeout=10)
            self._httpd.server_close()
            self._httpd = None
            self._thread = None
        if self.store is not None:
            self.store.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"{self.base_url}/services/apexrest/{self.settings.url_path.strip('/')}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/services/oauth2/token"

    # -- auth --------------------------------------------------------------------------------
    def issue_token(self) -> str:
        """A bearer token for the running user (what the token endpoint hands out)."""
        token = self.store_checked().org_id[:15] + "!" + secrets.token_urlsafe(32)
        with self._tokens_lock:
            self._tokens[token] = self.store_checked().running_user_id
        return token

    def user_for_token(self, token: str) -> str | None:
        with self._tokens_lock:
            return self._tokens.get(token)

    def store_checked(self) -> Store:
        if self.store is None:
            raise RuntimeError("the local server is not started")
        return self.store

    def token(self, body: bytes, content_type: str) -> tuple[int, Any]:
        form = parse_qs(body.decode("utf-8", errors="replace"))

        def one(name: str) -> str:
            return form.get(name, [""])[0]

        if one("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        good_id = hmac.compare_digest(one("client_id").encode(), self.client_id.encode())
        good_secret = hmac.compare_digest(one("client_secret").encode(), self.client_secret.encode())
        if not (good_id and good_secret):
            return 400, INVALID_CLIENT
        store = self.store_checked()
        token = self.issue_token()
        issued_at = str(int(time.time() * 1000))
        identity = f"{self.base_url}/id/{store.org_id}/{store.running_user_id}"
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return 200, {
            "access_token": token,
            "signature": signature,
            "scope": "api",
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    def userinfo(self, user_id: str) -> dict[str, Any]:
        store = self.store_checked()
        found = store.get(user_id, "User")
        user = found[1] if found else {}
        return {
            "sub": f"{self.base_url}/id/{store.org_id}/{user_id}",
            "user_id": user_id,
            "organization_id": store.org_id,
            "preferred_username": user.get("Username"),
            "nickname": user.get("CommunityNickname"),
            "name": user.get("Name"),
            "email": user.get("Email"),
            "active": bool(user.get("IsActive")),
            "user_type": "STANDARD",
            "urls": {"rest": f"{self.base_url}/services/data/v{{version}}/"},
        }

    # -- REST resources ----------------------------------------------------------------------
    def with_attributes(self, version: str, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        url = f"/services/data/v{version}/sobjects/{sobject}/{fields.get('Id')}"
        return {"attributes": {"type": sobject, "url": url}, **fields}

    def create(self, sobject: str, body: bytes) -> tuple[int, Any]:
        try:
            fields = json.loads(body.decode("utf-8")) if body.strip() else None
        except (UnicodeDecodeError, ValueError):
            fields = None
        if not isinstance(fields, dict):
            return 400, [
                {"message": "The request body is not a JSON object", "errorCode": "JSON_PARSER_ERROR"}
            ]
        fields.pop("attributes", None)
        try:
            record_id = self.store_checked().create(sobject, fields)
        except RequiredFieldMissing as exc:
            return 400, [
                {
                    "message": f"Required fields are missing: [{', '.join(exc.fields)}]",
                    "errorCode": "REQUIRED_FIELD_MISSING",
                    "fields": exc.fields,
                }
            ]
        except Busy:
            return 503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "The local database is busy"}]
        return 201, {"id": record_id, "success": True, "errors": []}

    def query(self, version: str, soql: str) -> dict[str, Any]:
        match = _QUERY_RE.match(soql)
        if not match or match.group(1) != match.group(2):
            raise _Reply(
                400,
                [
                    {
                        "message": "This local endpoint answers only the agent-user query",
                        "errorCode": "MALFORMED_QUERY",
                    }
                ],
            )
        field = match.group(1)
        user = self.store_checked().find_user(field)
        records = []
        if user is not None:
            records.append(
                {**self.with_attributes(version, "User", {"Id": user["Id"]}), field: user.get(field)}
            )
        return {"totalSize": len(records), "done": True, "records": records}

    # -- the endpoint ------------------------------------------------------------------------
    def set_fault(self, body: bytes) -> dict[str, Any]:
        """The local test hook: switch a simulated org-only outcome on (lockTimeout, orgRefusal)
        or off (null) for the requests that follow, or run retention on some calls now
        (``{"purge": {"callKeys": [...]}}``). Salesforce has no such resource."""
        try:
            request = json.loads(body or b"{}")
            purge = request.get("purge")
            if purge is not None:  # run retention on the named calls now, whatever their age
                call_keys = [str(key) for key in purge.get("callKeys", [])]
                return {"rowsDeleted": self.store_checked().purge_rows(call_keys=call_keys)}
            hook = request.get("hook")
            self.fault = check_fault(hook)
        except (ValueError, AttributeError) as exc:
            raise _Reply(400, [{"errorCode": "INVALID_HOOK", "message": str(exc)}]) from None
        self.store_checked().fault = self.fault
        return {"hook": self.fault}

    def endpoint(self, raw: bytes) -> Answer:
        """The writeCallStatistics contract on a raw body."""
        store = self.store_checked()
        settings = self.settings
        try:
            parsed = body_mod.parse_body(raw)
        except Exception as exc:  # never a traceback: quarantined as unexpected
            return store.unexpected(raw, exc, settings)
        if parsed.body_error is not None:
            return store.process_element(raw, parsed.body_error, settings)
        if parsed.too_large:
            return answer("batch_too_large", settings)
        if not parsed.is_batch:
            return store.process_element(raw, parsed.elements[0], settings)
        results = []
        for element in parsed.elements:
            element_raw = element.raw.encode("utf-8")
            results.append(store.process_element(element_raw, element, settings))
        return batch_answer(results, settings)


__all__ = ["LocalServer"]
