"""The local endpoint: an HTTP(S) server that answers like an org with the endpoint deployed.

Paths and JSON shapes follow Salesforce's: ``/services/oauth2/token`` (client credentials, form or
HTTP Basic client authentication), ``/services/oauth2/userinfo``, ``/services/apexrest/<url_path>``
(the engine's service, :mod:`jtel_sf.engine.call_statistics_service`, over the SQLite store) and
``/services/data/`` (versions, resources, limits, describe, sObject create/get/PATCH/delete,
external-Id get, the ``Rows`` child relationship, a SOQL subset: :mod:`.soql`), plus the status
page at ``/``. Built on the standard library's ThreadingHTTPServer, hardened for load and broken
clients (see docs/serve.md).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from jtel_sf.engine import call_statistics_service
from jtel_sf.engine.answers import Answer, answer
from jtel_sf.settings import Settings

from . import schema, status_page
from . import soql as soql_mod
from . import tls as tls_mod
from .store import FAULTS, ROW, Busy, DuplicateValue, RequiredFieldMissing, Store

MAX_BODY_BYTES = 16 * 1024 * 1024
LISTEN_BACKLOG = 128
MAX_CONNECTIONS = 128
IDLE_TIMEOUT_SECONDS = 30.0
BUSY_MESSAGE = "The local database is busy; resend later."
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
MIN_API_VERSION = 31
DAILY_API_REQUESTS = 15000  # a Developer Edition's allocation
NOT_DELETABLE = frozenset({"User", "Organization"})
READ_ONLY_FIELDS = ("CreatedDate", "LastModifiedDate")
_FIELD_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def _read_only_error(name: str) -> dict[str, Any]:
    return {
        "message": f"Unable to create/update fields: {name}. Please check the security settings of this "
        "field and verify that it is read/write for your profile or permission set.",
        "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
        "fields": [name],
    }


def check_fault(fault: str | None) -> str | None:
    """A known simulated fault (see Store.simulate), or None."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown hook {fault!r}; known: {', '.join(FAULTS)}")
    return fault


class _Reply(Exception):
    """Raised inside a handler to send a JSON answer."""

    def __init__(self, status: int, body: Any, *, close: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.close = close


def bad_request(message: str) -> _Reply:
    """A request whose framing is broken: answered and the connection closed (nothing processed)."""
    return _Reply(400, [{"errorCode": "BAD_REQUEST", "message": message}], close=True)


def escape_for_log(text: str) -> str:
    """Printable ASCII as is; everything else (newlines, escapes, non-ASCII) backslash-escaped, so one
    request is one line and a client cannot forge or colour log lines."""
    return "".join(
        c if " " <= c <= "~" and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text
    )


_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,15}")
MAX_CHUNK_LINE = 1024
MAX_TRAILER_LINES = 64


@dataclass(frozen=True)
class _Page:
    html: str
    content_type: str = "text/html;charset=UTF-8"


def is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The standard library listens with a backlog of 5: a burst of clients connecting at once
    # overflows it and some are reset without an HTTP answer.
    request_queue_size = LISTEN_BACKLOG
    app: LocalServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.active = 0
        self.active_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.active_lock:
            full = self.active >= self.app.max_connections
            if not full:
                self.active += 1
        if full and isinstance(request, ssl.SSLSocket):
            self.shutdown_request(request)
            return
        if full:
            # More connections than threads we let run: a retry answer, never a silent reset.
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                payload = json.dumps(answer("busy", self.app.settings, message=BUSY_MESSAGE).body).encode()
                request.sendall(
                    f"HTTP/1.1 {self.app.settings.retry_http_status} Service Unavailable\r\n"
                    "Content-Type: application/json;charset=UTF-8\r\nRetry-After: 1\r\nConnection: close\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self.active_lock:
                self.active -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback here; the local endpoint logs one line instead.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            self.app.write_log(f"connection error from {client_address[0]}: {type(error).__name__}")


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "jtel-sf-local"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------------------------
    def setup(self) -> None:
        # Idle keep-alive connections, partial request lines, headers and bodies all end after this.
        self.timeout = self.server.app.idle_timeout
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _log instead

    def _log(self, status: int, started: float, body: Any) -> None:
        path = urlsplit(self.path).path  # never the query string
        ms = (time.perf_counter() - started) * 1000
        code = ""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            code = f" {body.get('status')} {body['code']}"  # the answer's status and code
        elif isinstance(body, list) and body and isinstance(body[0], dict) and "errorCode" in body[0]:
            code = " " + str(body[0]["errorCode"])
        self.server.app.write_log(
            f"{escape_for_log(self.command)} {escape_for_log(path)} {status}{code} {ms:.1f}ms"
        )

    def _send(
        self,
        status: int,
        body: Any,
        started: float,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode("utf-8"))
        self.send_response(status)
        if payload or body is not None:
            self.send_header("Content-Type", content_type or "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Headers and body in one write: two small writes meet Nagle and delayed ACK (40 ms a request).
        self._headers_buffer.append(b"\r\n")
        if payload and self.command != "HEAD":
            self._headers_buffer.append(payload)
        self._log(status, started, body)  # before the answer leaves, so a client that got it sees the line
        self.flush_headers()

    def _read_exact(self, length: int) -> bytes:
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            # The client closed before sending the whole body: never processed.
            raise bad_request("The request body is shorter than its Content-Length")
        return data

    def _read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise bad_request("Only the chunked transfer coding is supported")
            if length_text is not None:
                raise bad_request("Content-Length and Transfer-Encoding together")
            return self._read_chunked()
        if length_text is None:
            return b""
        if not re.fullmatch(r"[0-9]{1,12}", length_text.strip()):
            raise bad_request("Invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _Reply(
                413,
                [{"errorCode": "REQUEST_TOO_LARGE", "message": "The request body is too large"}],
                close=True,
            )
        return self._read_exact(length)

    def _read_line(self) -> bytes:
        line = self.rfile.readline(MAX_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            if not line or len(line) <= MAX_CHUNK_LINE:
                raise bad_request("The chunked body ended early")
            raise bad_request("Chunk line too long")
        return line.rstrip(b"\r\n")

    def _read_chunked(self) -> bytes:
        """RFC 9112 section 7.1, strictly: hex size (extensions ignored), data, CRLF; trailers skipped."""
        chunks = []
        total = 0
        while True:
            size_text = self._read_line().split(b";", 1)[0].strip(b" \t")
            if not _CHUNK_SIZE_RE.fullmatch(size_text):
                raise bad_request("Invalid chunk size")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(MAX_TRAILER_LINES):
                    if not self._read_line():
                        return b"".join(chunks)
                raise bad_request("Too many trailer lines")
            total += size
            if total > MAX_BODY_BYTES:
                raise _Reply(
                    413,
                    [{"errorCode": "REQUEST_TOO_LARGE", "message": "The request body is too large"}],
                    close=True,
                )
            chunks.append(self._read_exact(size))
            if self._read_line():
                raise bad_request("Chunk data longer than its size")

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
        app = self.server.app
        try:
            body = self._read_body() if self.command in ("POST", "PATCH", "PUT") else b""
            with app.store_checked().session():
                status, reply = self._route(urlsplit(self.path), body)
            if isinstance(reply, _Page):
                page = reply.html.encode("utf-8", errors="replace")  # a stored lone surrogate shows as "?"
                self._send(status, None, started, raw=page, content_type=reply.content_type)
            elif isinstance(reply, Answer):
                self._send(reply.http, reply.body, started)
            else:
                self._send(status, reply, started)
        except _Reply as r:
            if r.close:
                self.close_connection = True
            self._send(r.status, r.body, started)
        except Busy:
            self._send(
                app.settings.retry_http_status,
                answer("busy", app.settings, message=BUSY_MESSAGE).body,
                started,
            )
        except TimeoutError:  # a body that did not arrive in time: not processed
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(
                    408,
                    [{"errorCode": "REQUEST_TIMEOUT", "message": "The request body did not arrive in time"}],
                    started,
                )
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
            return app.token(body, self.headers.get("Authorization") or "")
        if path == "/services/oauth2/userinfo":
            self._only("GET", "POST")
            return 200, app.userinfo(self._bearer_user())
        if path == "/":
            self._only("GET", "HEAD")
            if not is_loopback_address(self.client_address[0]):
                raise _Reply(
                    403,
                    [{"errorCode": "FORBIDDEN", "message": "The status page answers loopback clients only"}],
                )
            return 200, _Page(app.status_page())
        if path == "/services/data":
            self._only("GET", "HEAD")
            return 200, app.versions()  # no session needed, as in Salesforce
        if path.startswith("/services/apexrest/"):
            self._bearer_user()
            app.count_request()
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
            app.count_request()
            return self._data(match.group(1), match.group(2) or "/", url.query, body)
        raise _Reply(404, NOT_FOUND_BODY)

    def _only(self, *methods: str) -> None:
        if self.command not in methods:
            raise _Reply(
                405,
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{self.command}' not allowed. "
                        f"Allowed are {','.join(methods)}",
                    }
                ],
            )

    def _data(self, version: str, rest: str, query: str, body: bytes) -> tuple[int, Any]:
        app = self.server.app
        store = app.store_checked()
        parts = [unquote(p) for p in rest.strip("/").split("/") if p]
        if not parts:
            self._only("GET")
            return 200, app.resources(version)
        if parts == ["limits"]:
            self._only("GET")
            return 200, app.limits()
        if parts == ["query"]:
            self._only("GET")
            params = parse_qs(query)
            q = params.get("q", [""])[0]
            if params.get("columns", [""])[0] == "true":
                try:
                    return 200, soql_mod.columns(q)
                except soql_mod.SoqlError as exc:
                    raise _Reply(400, exc.as_body()) from None
            return 200, app.query(version, q)
        if parts == ["sobjects"]:
            self._only("GET")
            return 200, {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [schema.basic(t, version) for t in schema.types().values()],
            }
        if parts[0] != "sobjects" or len(parts) < 2:
            raise _Reply(404, NOT_FOUND_BODY)
        described = schema.find_type(parts[1])
        if described is None:
            raise _Reply(
                404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            )
        sobject = described.name
        if len(parts) == 2:
            if self.command == "GET":
                return 200, {"objectDescribe": schema.basic(described, version), "recentItems": []}
            self._only("GET", "POST")
            return app.create(sobject, body)
        if len(parts) == 3 and parts[2] == "describe":
            self._only("GET")
            return 200, schema.describe(described, version)
        if len(parts) == 3:
            if self.command == "DELETE":
                if sobject in NOT_DELETABLE:
                    # Object Reference: User and Organization have no delete() among their calls.
                    self._only("GET", "PATCH")
                if not store.delete(parts[2], sobject):
                    raise _Reply(404, NOT_FOUND_BODY)
                return 204, None
            if self.command == "PATCH":
                return app.update(sobject, parts[2], body)
            self._only("GET", "PATCH", "DELETE")
            found = store.get(parts[2], sobject)
            if found is None:
                raise _Reply(404, NOT_FOUND_BODY)
            fields = parse_qs(query).get("fields", [""])[0]
            record = found[1]
            if fields:
                wanted = [name.strip() for name in fields.split(",") if name.strip()]
                record = {"Id": record.get("Id"), **{name: record.get(name) for name in wanted}}
            return 200, app.with_attributes(version, sobject, record)
        if len(parts) == 4:
            self._only("GET")
            if sobject == "JtelCall__c" and parts[3] == "Rows":
                found = store.get(parts[2], sobject)
                if found is None:
                    raise _Reply(404, NOT_FOUND_BODY)
                records = [app.with_attributes(version, ROW, r) for r in store.children(found[1]["Id"])]
                return 200, {"totalSize": len(records), "done": True, "records": records}
            record = store.get_by_external_id(sobject, parts[2], parts[3])
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
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        tls: bool = False,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
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
        self.idle_timeout = idle_timeout
        self.tls = tls or tls_cert is not None
        self._tls_files = (
            None if tls_cert is None or tls_key is None else tls_mod.TlsFiles(tls_cert, tls_key, None)
        )
        self._tls_dir: str | None = None
        self.max_connections = max_connections
        self._log_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests_served = 0
        self.answers: Counter[tuple[str, str]] = Counter()  # (status, code) of every row answered

    def write_log(self, line: str) -> None:
        """One whole line per call, never interleaved with another thread's."""
        if self.quiet:
            return
        with self._log_lock, contextlib.suppress(OSError, ValueError):
            self.log.write(line + "\n")
            self.log.flush()

    def count_request(self) -> None:
        with self._count_lock:
            self.requests_served += 1

    # -- life cycle --------------------------------------------------------------------------
    def bind(self) -> None:
        """Open the database and bind the socket (no requests served yet)."""
        if self._httpd is not None:
            return
        self.store = Store(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        self.store.fault = self.fault
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        httpd = server_class((self.host, self.port), _Handler, bind_and_activate=False)
        httpd.app = self
        try:
            httpd.server_bind()
            httpd.server_activate()
            if self.tls:
                if self._tls_files is None:
                    self._tls_dir = tempfile.mkdtemp(prefix="jtel-sf-tls-")
                    self._tls_files = tls_mod.generate(Path(self._tls_dir), self.host)
                context = tls_mod.server_context(self._tls_files)
                # The handshake runs in the connection's own thread (with its timeout), never in accept.
                httpd.socket = context.wrap_socket(
                    httpd.socket, server_side=True, do_handshake_on_connect=False
                )
        except BaseException:
            httpd.server_close()
            raise
        self._httpd = httpd
        self.port = httpd.server_address[1]

    @property
    def ca_path(self) -> Path | None:
        """The generated CA certificate clients trust (None without TLS or with --tls-cert)."""
        return None if self._tls_files is None else self._tls_files.ca

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
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None
            self._tls_files = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

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

    def token(self, body: bytes, authorization: str) -> tuple[int, Any]:
        """OAuth 2.0 client credentials. The client authenticates with HTTP Basic or with
        client_id/client_secret in the form; RFC 6749 section 2.3.1: servers must accept Basic, and a
        client must not use two methods in one request."""
        form = parse_qs(body.decode("utf-8", errors="replace"))

        def one(name: str) -> str:
            return form.get(name, [""])[0]

        if one("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() == "basic":
            if "client_secret" in form:
                return 400, {
                    "error": "invalid_request",
                    "error_description": "more than one client authentication",
                }
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return 400, INVALID_CLIENT
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, client_secret = (
                unquote(raw_id.replace("+", " ")),
                unquote(raw_secret.replace("+", " ")),
            )
        else:
            client_id, client_secret = one("client_id"), one("client_secret")
        good_id = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        good_secret = hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
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

    @staticmethod
    def _record_body(body: bytes) -> dict[str, Any]:
        try:
            fields = json.loads(body.decode("utf-8")) if body.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            fields = None
        if not isinstance(fields, dict):
            raise _Reply(
                400, [{"message": "The request body is not a JSON object", "errorCode": "JSON_PARSER_ERROR"}]
            )
        fields.pop("attributes", None)
        for name, value in fields.items():
            if not _FIELD_NAME_RE.fullmatch(name) or isinstance(value, dict | list):
                raise _Reply(
                    400,
                    [{"message": f"No such column '{name[:80]}' on sobject", "errorCode": "INVALID_FIELD"}],
                )
        return fields

    @staticmethod
    def _duplicate(exc: DuplicateValue) -> _Reply:
        return _Reply(
            400,
            [
                {
                    "message": f"duplicate value found: {exc.field} duplicates value on record with id: "
                    f"{exc.existing_id}",
                    "errorCode": "DUPLICATE_VALUE",
                    "fields": [],
                }
            ],
        )

    def update(self, sobject: str, record_id: str, body: bytes) -> tuple[int, Any]:
        """sObject PATCH: 204 and no body, as Salesforce answers an update."""
        fields = self._record_body(body)
        if sobject in NOT_DELETABLE:
            raise _Reply(
                400, [{"message": f"{sobject} records are read-only here", "errorCode": "INVALID_OPERATION"}]
            )
        for name in READ_ONLY_FIELDS:
            if name in fields:
                raise _Reply(400, [_read_only_error(name)])
        try:
            found = self.store_checked().update(record_id, sobject, fields)
        except DuplicateValue as exc:
            raise self._duplicate(exc) from None
        if not found:
            raise _Reply(404, NOT_FOUND_BODY)
        return 204, None

    def create(self, sobject: str, body: bytes) -> tuple[int, Any]:
        fields = self._record_body(body)
        if sobject in NOT_DELETABLE:
            raise _Reply(
                400, [{"message": f"{sobject} records are read-only here", "errorCode": "INVALID_OPERATION"}]
            )
        if "Id" in fields:
            # Salesforce assigns every Id; a create naming one is refused.
            raise _Reply(
                400,
                [
                    {
                        "message": "cannot specify Id in an insert call",
                        "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "fields": ["Id"],
                    }
                ],
            )
        for name in READ_ONLY_FIELDS:
            if name in fields:
                raise _Reply(400, [_read_only_error(name)])
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
        except DuplicateValue as exc:
            raise self._duplicate(exc) from None
        except Busy:
            return 503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "The local database is busy"}]
        return 201, {"id": record_id, "success": True, "errors": []}

    def versions(self) -> list[dict[str, str]]:
        """The Versions resource: every API version up to the configured one."""
        newest = int(float(self.settings.api_version))
        result = []
        for number in range(MIN_API_VERSION, newest + 1):
            season = ("Winter", "Spring", "Summer")[(number - 59) % 3]
            year = 24 + (number - 59) // 3  # v59.0 is Winter '24, three releases a year
            result.append(
                {
                    "label": f"{season} '{year:02d}",
                    "url": f"/services/data/v{number}.0",
                    "version": f"{number}.0",
                }
            )
        return result

    def resources(self, version: str) -> dict[str, str]:
        """Resources by Version: the ones this endpoint serves."""
        base = f"/services/data/v{version}"
        return {name: f"{base}/{name}" for name in ("sobjects", "query", "limits")}

    def limits(self) -> dict[str, dict[str, int]]:
        """The Limits resource; DailyApiRequests counts the REST and Apex REST requests served."""
        with self._count_lock:
            used = self.requests_served
        return {
            "DailyApiRequests": {"Max": DAILY_API_REQUESTS, "Remaining": max(0, DAILY_API_REQUESTS - used)},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        }

    def query(self, version: str, soql: str) -> dict[str, Any]:
        match = _QUERY_RE.match(soql)
        if not match or match.group(1) != match.group(2):
            try:
                return soql_mod.run(self.store_checked(), soql, version)
            except soql_mod.SoqlError as exc:
                raise _Reply(400, exc.as_body()) from None
        # The agent-user query: without ORDER BY SOQL's order is unspecified; agents come first here.
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
        """The writeCallStatistics contract on a raw body: the engine's service in one transaction."""
        store = self.store_checked()
        try:
            with store.transaction():
                result = call_statistics_service.handle(raw, store, self.settings)
        except Busy:
            result = answer("busy", self.settings, message=BUSY_MESSAGE)
        counted = [r["body"] for r in result.body.get("results", [])] or [result.body]
        with self._count_lock:
            self.answers.update((str(b.get("status")), str(b.get("code"))) for b in counted)
        return result

    def status_page(self) -> str:
        with self._count_lock:
            answers = Counter(self.answers)
            served = self.requests_served
        return status_page.render(
            self.store_checked(), base_url=self.base_url, answers=answers, served=served
        )


__all__ = ["LocalServer"]
