"""``jtel-sf serve``: run the local endpoint in the foreground until interrupted."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jtel_sf.errors import UsageError
from jtel_sf.settings import Settings

from .server import LocalServer
from .store import default_db_path


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connection_info(server: LocalServer) -> dict[str, Any]:
    """What a client needs to connect: the ready file's and ``--json``'s document."""
    return {
        "baseUrl": server.base_url,
        "endpointUrl": server.endpoint_url,
        "tokenUrl": server.token_url,
        "clientId": server.client_id,
        "clientSecret": server.client_secret,
        "caPath": None if server.ca_path is None else str(server.ca_path),
        "database": str(server.db_path),
    }


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` readable by its owner only (it holds the client secret),
    atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(partial, path)


def run_serve(
    *,
    host: str,
    port: int,
    db_path: Path | None,
    client_id: str | None,
    client_secret: str | None,
    settings: Settings,
    echo: Callable[[str], Any],
    quiet: bool = False,
    fault: str | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    ready_file: Path | None = None,
    announce: Callable[[dict[str, Any]], Any] | None = None,
    tls: bool = False,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve until Ctrl-C / SIGTERM (or ``stop`` is set). Prints the base URL, database and credentials."""
    if (client_id is None) != (client_secret is None):
        raise UsageError("give both --client-id and --client-secret, or neither (then they are generated)")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    path = db_path or default_db_path()
    server = LocalServer(
        host=host,
        port=port,
        db_path=path,
        client_id=client_id,
        client_secret=client_secret,
        settings=settings,
        quiet=quiet,
        fault=fault,
        tls=tls or tls_cert is not None,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    try:
        server.bind()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    generated = client_id is None
    echo(f"jtel-sf local endpoint: {server.base_url}")
    if not is_loopback(host):
        echo(
            f"  WARNING:       listening on {host}, not loopback: anyone who can reach this address can get "
            "a token with the printed credentials and read or write the local database."
        )
    echo(f"  endpoint:      {server.endpoint_url}")
    echo(f"  token URL:     {server.token_url}  (grant_type=client_credentials)")
    echo(f"  database:      {server.db_path}")
    if server.ca_path is not None:
        echo(f"  CA:            {server.ca_path}  (trust it: REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)")
    if fault is not None:
        echo(f"  simulating:    {fault} for every valid row (switch with POST /jtel-sf/test-hook)")
    if generated:
        # Throw-away credentials of this run only, printed so jtel or send can be pointed at it.
        echo(f"  client id:     {server.client_id}")
        echo(f"  client secret: {server.client_secret}  (generated for this run)")
    else:
        echo(f"  client id:     {server.client_id}  (secret as given)")
    stop = stop or threading.Event()
    server.start()
    if ready_file is not None:
        write_private_json(ready_file, connection_info(server))
        echo(f"  ready file:    {ready_file}")
    if announce is not None:
        announce(connection_info(server))
    echo("Press Ctrl-C to stop.")
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if ready is not None:
        ready.set()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        echo("Stopped.")
