"""Network and TLS failures: one short line with the host and the real cause, exit code 5 in every
org command (a refused port, a server with a self-signed certificate and a server that drops the
connection, all real sockets on 127.0.0.1)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_cli
from fakes.org import FakeOrg

EXIT_UNREACHABLE = 5


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SF_ACCESS_TOKEN", "SF_INSTANCE_URL", "SF_TARGET_ORG", "SF_CLIENT_ID", "SF_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "sfdx-project.json").write_text('{"packageDirectories": [{"path": "force-app"}]}')
    (tmp_path / "force-app").mkdir()
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


@pytest.fixture
def self_signed_url(tmp_path: Path) -> Iterator[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


COMMANDS = [
    ["deploy"],
    ["doctor"],
    ["quarantine", "list"],
    ["contract-test"],
]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_refused_connection_is_one_line_and_exit_5(
    command: list[str], refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli([*command, "--instance-url", refused_url, "--access-token", "00Dx!tok"], capsys)
    assert code == EXIT_UNREACHABLE, err
    host = refused_url.removeprefix("http://")
    assert _one_line(err) == f"Error: cannot reach {host}: connection refused"
    assert "Traceback" not in err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_an_untrusted_certificate_names_tls_and_exits_5(
    command: list[str], self_signed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(
        [*command, "--instance-url", self_signed_url, "--access-token", "00Dx!tok"], capsys
    )
    assert code == EXIT_UNREACHABLE, err
    host = self_signed_url.removeprefix("https://")
    assert _one_line(err).startswith(f"Error: cannot reach {host}: TLS certificate not trusted (self")


def test_client_credentials_login_to_an_unreachable_host_is_exit_5(
    refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["doctor", "--instance-url", refused_url, "--client-id", "c", "--client-secret", "s3cr3t-value"]
    code, _out, err = run_cli(args, capsys)
    assert code == EXIT_UNREACHABLE
    assert "connection refused" in _one_line(err) and "s3cr3t-value" not in err


def test_contract_test_stops_at_the_first_unreachable_request(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOrg() as org:
        org.down_after = 3  # the org answers a few requests, then the network is gone
        code, out, err = run_cli(
            ["contract-test", "--instance-url", org.url, "--access-token", org.admin_token], capsys
        )
        sent = len(org.requests)
    assert code == EXIT_UNREACHABLE, out + err
    assert _one_line(err).startswith(f"Error: cannot reach {org.url.removeprefix('http://')}: ")
    assert (out + err).count("cannot reach") == 1  # not once per case
    assert sent <= 4
