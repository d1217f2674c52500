"""``jtel-sf serve``: run the local endpoint in the foreground until interrupted."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jtel_sf.errors import UsageError
from jtel_sf.settings import Settings

from .server import LocalServer
from .store import default_db_path


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
) -> None:
    """Serve until Ctrl-C / SIGTERM (or ``stop`` is set). Prints the base URL, database and credentials."""
    if (client_id is None) != (client_secret is None):
        raise UsageError("give both --client-id and --client-secret, or neither (then they are generated)")
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
    )
    try:
        server.bind()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    generated = client_id is None
    echo(f"jtel-sf local endpoint: {server.base_url}")
    echo(f"  endpoint:      {server.endpoint_url}")
    echo(f"  token URL:     {server.token_url}  (grant_type=client_credentials)")
    echo(f"  database:      {server.db_path}")
    if fault is not None:
        echo(f"  simulating:    {fault} for every valid row (switch with POST /jtel-sf/test-hook)")
    if generated:
        # Throw-away credentials of this run only, printed so jtel or send can be pointed at it.
        echo(f"  client id:     {server.client_id}")
        echo(f"  client secret: {server.client_secret}  (generated for this run)")
    else:
        echo(f"  client id:     {server.client_id}  (secret as given)")
    echo("Press Ctrl-C to stop.")
    stop = stop or threading.Event()
    server.start()
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
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        echo("Stopped.")
