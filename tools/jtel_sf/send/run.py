"""Choosing the target of ``send`` (--url, an org, or a local endpoint started for the run) and running it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jtel_sf.errors import UsageError
from jtel_sf.settings import Settings

from .runner import SendOptions, SendResult, check_options, run_send
from .target import Target, TokenSource, client_credentials_fetcher, url_target


def org_target(auth_kwargs: Mapping[str, Any], settings: Settings) -> Target:
    """The endpoint in an org reached through ``jtel_sf.auth.connect`` (any of its flows)."""
    from jtel_sf.auth import AuthOptions, connect

    org = connect(AuthOptions.from_click(auth_kwargs))

    def current_token() -> str:
        header = str(org.session.headers.get("Authorization", ""))
        return header.split(" ", 1)[1] if " " in header else header

    def fetch() -> str:
        org.refresh()
        return current_token()

    url = f"{org.instance_url}/services/apexrest/{settings.url_path.strip('/')}"
    tokens = TokenSource(current_token(), fetch if org.can_refresh else None)
    return Target(url, tokens, f"{url} ({org.method})")


def send_files(
    paths: list[Path],
    *,
    url: str | None,
    local: bool,
    db_path: Path | None,
    auth_kwargs: Mapping[str, Any],
    settings: Settings,
    options: SendOptions,
    echo: Callable[[str], Any],
    out: Any = None,
) -> SendResult:
    """Resolve the target, send, and stop a local endpoint started for the run."""
    if not paths:
        raise UsageError("give at least one input FILE (JSON Lines or CSV)")
    chosen = [name for name, on in (("--url", bool(url)), ("--local", local)) if on]
    if len(chosen) > 1:
        raise UsageError("use one of --url and --local (or org options)")
    if db_path is not None and not local:
        raise UsageError("--db goes with --local")
    check_options(options)
    if options.dry_run:
        return run_send(paths, None, options, out=out, echo=echo)
    if local:
        from jtel_sf.local.server import LocalServer

        with LocalServer(db_path=db_path, settings=settings, quiet=True) as server:
            fetch = client_credentials_fetcher(server.token_url, server.client_id, server.client_secret)
            target = Target(
                server.endpoint_url, TokenSource(None, fetch), f"local endpoint {server.base_url}"
            )
            echo(f"Local endpoint {server.base_url}, database {server.db_path}")
            return run_send(paths, target, options, out=out, echo=echo)
    if url:
        target = url_target(
            url,
            auth_kwargs.get("access_token"),
            auth_kwargs.get("client_id"),
            auth_kwargs.get("client_secret"),
        )
    else:
        target = org_target(auth_kwargs, settings)
    echo(f"Sending to {target.description}")
    return run_send(paths, target, options, out=out, echo=echo)


def summary(result: SendResult) -> list[str]:
    c = result.counts
    if c.parsed and not c.sent:
        return [f"Dry run: {c.parsed} rows read and checked, {c.skipped} skipped, {result.seconds:.1f} s."]
    lines = [
        f"Sent {c.sent} rows in {result.seconds:.1f} s ({result.rows_per_second:.1f} rows/s): "
        f"written {c.written}, duplicate {c.duplicate}, not_found {c.not_found}, rejected {c.rejected}, "
        f"failed {c.failed}; {c.retried} retries; {c.skipped} skipped (already final)."
    ]
    lines.extend(f"  failed: {reason}" for reason in result.failures[:10])
    if result.aborted:
        lines.append(f"Stopped early: {result.aborted}")
    return lines
