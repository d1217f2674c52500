"""``jtel-sf org create | list | delete | prove``: scratch orgs from a Dev Hub, no sf CLI needed.

Thin: options here, the work in ``jtel_sf.org.scratch*``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import AuthError, CheckFailed
from ..options import command_epilog, json_option, org_auth_options
from ..output import emit

EXAMPLES = [
    (
        "jtel-sf org create --alias ci --dev-hub-client-id ID --dev-hub-jwt-key-file k.pem"
        " --dev-hub-username hub@acme.com",
        "a scratch org, logged in with the Dev Hub's JWT",
    ),
    ("jtel-sf org list", "the scratch orgs jtel-sf knows"),
    ("jtel-sf org delete ci", "delete one (its ActiveScratchOrg on the Dev Hub)"),
    (
        "jtel-sf org prove --dev-hub hub --record tests/recordings/scratch-org",
        "the whole proof in a fresh org",
    ),
]
EXIT_CODES = {
    0: None,
    1: "a proof step failed, or no such scratch org",
    2: "usage, or the Dev Hub login failed",
    3: "the scratch org was not Active within --wait",
}

F = TypeVar("F", bound=Callable[..., Any])
DEV_HUB_PREFIX = "dev_hub_"
_NOT_FOR_DEV_HUB = ("api_version",)  # one API version for the whole command


def _dev_hub_specs() -> list[tuple[list[str], dict[str, Any]]]:
    """The org auth options (``options.org_auth_options``, the list ``auth.AuthOptions`` reads)
    again, for the Dev Hub: ``--dev-hub-<name>`` and ``SF_DEV_HUB_<NAME>``; ``--target-org`` is
    ``--dev-hub``. Derived, so a new way to log in reaches the Dev Hub options by itself."""

    def probe(**_: Any) -> None:  # pragma: no cover - never called
        pass

    decorated: Any = org_auth_options(probe)
    specs = []
    for param in reversed(decorated.__click_params__):
        if not isinstance(param, click.Option) or param.name in _NOT_FOR_DEV_HUB or param.name is None:
            continue
        long_name = next(o for o in param.opts if o.startswith("--"))[2:]
        flag = "--dev-hub" if param.name == "target_org" else f"--dev-hub-{long_name}"
        envvar = param.envvar if isinstance(param.envvar, str) else None
        attrs: dict[str, Any] = {
            "type": param.type,
            "envvar": ("SF_DEV_HUB_" + envvar[3:]) if envvar and envvar.startswith("SF_") else None,
            "show_envvar": True,
            "help": "Dev Hub: " + (param.help or ""),
        }
        if param.default is not None and not repr(param.default).startswith("Sentinel"):
            attrs["default"] = param.default
            attrs["show_default"] = True
        specs.append(([flag, DEV_HUB_PREFIX + param.name], attrs))
    return specs


def _dev_hub_params() -> list[click.Option]:
    return [click.Option(decls, **attrs) for decls, attrs in _dev_hub_specs()]


def dev_hub_options(func: F) -> F:
    for decls, attrs in reversed(_dev_hub_specs()):
        func = click.option(*decls, **attrs)(func)
    return func


def _dev_hub_auth(kwargs: dict[str, Any]) -> Any:
    from ..auth import AuthOptions

    values = {k[len(DEV_HUB_PREFIX) :]: v for k, v in kwargs.items() if k.startswith(DEV_HUB_PREFIX)}
    values["api_version"] = kwargs.get("api_version")
    return AuthOptions.from_click(values)


_DEV_HUB_HINT = (
    "Reach the Dev Hub with --dev-hub-instance-url + --dev-hub-access-token (SF_DEV_HUB_INSTANCE_URL / "
    "SF_DEV_HUB_ACCESS_TOKEN), --dev-hub-client-id + --dev-hub-jwt-key-file + --dev-hub-username (JWT; "
    "then jtel-sf can log in to the scratch org again by itself), or --dev-hub ALIAS (an installed sf CLI)."
)


def _connect_hub(auth: Any, api_version: str) -> Any:
    from ..auth import connect

    try:
        return connect(auth, warn=lambda m: click.echo(m, err=True), default_api_version=api_version)
    except AuthError as exc:
        if str(exc).startswith("no complete org credentials"):
            given = str(exc)[len("no complete org credentials") :].replace("--", "--dev-hub-")
            raise AuthError("no complete Dev Hub credentials" + given, hint=_DEV_HUB_HINT) from None
        raise AuthError(f"Dev Hub: {exc}", hint=exc.hint) from None


def _status_printer() -> Callable[[str, float], None]:
    def show(status: str, elapsed: float) -> None:
        minutes, seconds = divmod(int(elapsed), 60)
        click.echo(f"[{minutes:02d}:{seconds:02d}] scratch org: {status}", err=True)

    return show


def _default_alias() -> str:
    from datetime import UTC, datetime

    return "jtel-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _create(kwargs: dict[str, Any], alias: str | None, partial: dict[str, Any] | None = None) -> Any:
    """Create, register and remember a scratch org; returns the CreateResult. The org is in
    jtel-sf's list from the moment the Dev Hub reports it Active (``partial["org"]`` too), so
    `org delete` (and prove) can remove it even when logging in or the settings deploy fails."""
    partial = {} if partial is None else partial
    from ..org import scratch_registry
    from ..org.scratch import create_scratch_org
    from ..org.scratch_def import load_definition
    from ..org.scratch_deploy import deploy_package
    from ..settings import load_settings

    settings = load_settings(Path.cwd())
    definition = load_definition(kwargs["definition"])
    alias = alias or _default_alias()
    existing = scratch_registry.find(alias)
    if existing is not None:
        raise CheckFailed(
            f"jtel-sf already has a scratch org called {alias} ({existing.username})",
            hint=f"Pick another --alias, or delete it first: jtel-sf org delete {alias}",
        )
    auth = _dev_hub_auth(kwargs)
    hub = _connect_hub(auth, settings.api_version)
    click.echo(
        f"Requesting a {definition.edition or 'scratch'} org for {kwargs['days']} day(s) from the Dev Hub "
        f"at {hub.instance_url} ({definition.path})",
        err=True,
    )
    result = create_scratch_org(
        hub,
        auth,
        definition,
        alias=alias,
        days=kwargs["days"],
        wait_minutes=kwargs["wait_minutes"],
        poll_interval=kwargs["poll_interval"],
        on_status=_status_printer(),
        signup_app=kwargs.get("signup_connected_app"),
        on_active=lambda facts: (scratch_registry.add(facts), partial.__setitem__("org", facts)),
        on_login=lambda done: (
            scratch_registry.add(done.org),
            partial.__setitem__(
                "stored", scratch_registry.remember(done.org, done.session, done.refresh_token)
            ),
        ),
        deploy_settings=lambda session, package: deploy_package(
            session, package, poll_interval=kwargs["poll_interval"]
        ),
    )
    result.token_store = partial.get("stored", "")  # type: ignore[attr-defined]
    return result


def _wait_option(func: F) -> F:
    from ..org.scratch_def import DEFAULT_WAIT_MINUTES

    return click.option(
        "--wait",
        "wait_minutes",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_WAIT_MINUTES,
        show_default=True,
        metavar="MIN",
        help="Minutes to wait for the Dev Hub to finish the org (exit 3 after that).",
    )(func)


def _create_options(func: F) -> F:
    decorators = [
        click.option(
            "--definition",
            type=click.Path(dir_okay=False, path_type=Path),
            default=Path("config/project-scratch-def.json"),
            show_default=True,
            help="Scratch org definition file (edition, features, orgName, settings, ...).",
        ),
        click.option(
            "--days",
            type=click.IntRange(1, 30),
            default=1,
            show_default=True,
            help="Days until the org expires.",
        ),
        _wait_option,
        click.option(
            "--poll-interval",
            type=click.FloatRange(min=0, min_open=True),
            default=2.0,
            show_default=True,
            metavar="SEC",
            help="Seconds between status checks on the Dev Hub and the deploys.",
        ),
        click.option(
            "--api-version", envvar="SF_API_VERSION", show_envvar=True, help="API version, e.g. 61.0."
        ),
        click.option(
            "--signup-connected-app",
            envvar="SF_SCRATCH_SIGNUP_CONNECTED_APP",
            show_envvar=True,
            metavar="CLIENT_ID",
            help="Sign the org up with this connected app and log in with its one-time AuthCode, even when "
            "the Dev Hub is reached with JWT (PlatformCLI: the way around error C-1016).",
        ),
        dev_hub_options,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@click.group(epilog=command_epilog(EXAMPLES, EXIT_CODES))
@json_option
def org(as_json: bool) -> None:
    """Scratch orgs from a Dev Hub (create, list, delete) and the one-command proof (prove).

    jtel-sf keeps what it knows about its scratch orgs in scratch-orgs.json in the user's config
    folder ($XDG_CONFIG_HOME/jtel-sf or ~/.config/jtel-sf): alias, username, org id, URLs, Dev Hub,
    expiry. Never a token: it logs in again with JWT, or keeps the refresh token in memory or the
    OS keyring. `-o/--target-org ALIAS` on every org command finds these aliases first.
    """


@org.command("create")
@_create_options
@click.option("--alias", "-a", help="Name to use with -o/--target-org (default: jtel-<date>-<time>).")
@json_option
def create(alias: str | None, as_json: bool, **kwargs: Any) -> None:
    """Create a scratch org from the definition, log in to it, deploy the definition's settings."""
    result = _create(kwargs, alias)
    facts = result.org
    lines = [
        f"Scratch org {facts.alias} created in {result.seconds:.0f}s",
        f"  username     {facts.username}",
        f"  org id       {facts.org_id}",
        f"  instance     {facts.instance_url}",
        f"  expires      {facts.expiration_date}",
        f"  Dev Hub      {facts.dev_hub_username} ({facts.dev_hub_instance_url})",
        f"  settings     {', '.join(result.settings_deployed) or 'none'}",
    ]
    if facts.login.get("method") == "jwt":
        lines.append("  login again  JWT with the Dev Hub's client id and key file")
    elif getattr(result, "token_store", "memory") == "keyring":
        lines.append("  login again  refresh token in the OS keyring")
    else:
        lines.append(
            "  login again  not possible after this process (no keyring; Dev Hub not reached with JWT)"
        )
    lines.append(f"Next: jtel-sf deploy -o {facts.alias}")
    emit(facts.to_json(), lines)


@org.command("list")
@json_option
def list_orgs(as_json: bool) -> None:
    """The scratch orgs jtel-sf created (from its list; the Dev Hub is not asked)."""
    from datetime import date

    from ..org import scratch_registry

    orgs = scratch_registry.load()
    if not orgs:
        emit(
            [],
            f"No scratch orgs in {scratch_registry.registry_path()}."
            " Create one: jtel-sf org create --alias NAME",
        )
        return
    today = date.today().isoformat()
    rows = [("ALIAS", "USERNAME", "EXPIRES", "DEV HUB", "")]
    for o in orgs:
        rows.append(
            (
                o.alias,
                o.username,
                o.expiration_date,
                o.dev_hub_username,
                "expired" if o.expiration_date and o.expiration_date < today else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    emit(
        [o.to_json() for o in orgs],
        ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows],
    )


@org.command("delete")
@click.argument("name")
@click.option(
    "--forget", is_flag=True, help="Only drop the org from jtel-sf's list (it is gone from the Dev Hub)."
)
@click.option("--api-version", envvar="SF_API_VERSION", show_envvar=True, help="API version, e.g. 61.0.")
@json_option
@dev_hub_options
def delete(name: str, forget: bool, as_json: bool, **kwargs: Any) -> None:
    """Delete scratch org NAME (alias or username): its ActiveScratchOrg record on the Dev Hub.

    The Dev Hub is reached with the --dev-hub-* options, or without them when it was reached with
    JWT or through the sf CLI at create time."""
    from ..org import scratch_registry
    from ..org.scratch import delete_scratch_org, dev_hub_options_from_facts
    from ..settings import load_settings

    found = scratch_registry.find(name)
    if found is None:
        raise CheckFailed(f"jtel-sf has no scratch org called {name}", hint="See `jtel-sf org list`.")
    if forget:
        scratch_registry.remove(found)
        emit(
            {"alias": found.alias, "forgotten": True},
            f"{found.alias} dropped from jtel-sf's list (the Dev Hub was not asked).",
        )
        return
    settings = load_settings(Path.cwd())
    auth = _dev_hub_auth(kwargs)
    if not any(getattr(auth, f) for f in ("access_token", "target_org", "client_id", "username")):
        remembered = dev_hub_options_from_facts(found.dev_hub_login, kwargs.get("api_version"))
        auth = remembered or auth
    hub = _connect_hub(auth, settings.api_version)
    record_id = delete_scratch_org(hub, found)
    scratch_registry.remove(found)
    emit(
        {"alias": found.alias, "username": found.username, "active_scratch_org": record_id},
        f"Scratch org {found.alias} ({found.username}) deleted: ActiveScratchOrg {record_id}.",
    )


@org.command("prove")
@_create_options
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Record the contract run, scrubbed, to DIR (then checked for anything of the org left in it).",
)
@click.option(
    "--keep", is_flag=True, help="Leave the scratch org in place at the end (also after a failure)."
)
@click.option(
    "--source-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("force-app"),
    show_default=True,
    help="SFDX source folder to deploy.",
)
@click.option(
    "--coverage-threshold",
    type=click.FloatRange(0, 100),
    default=90.0,
    show_default=True,
    metavar="PCT",
    help="The deploy step fails when a class has less line coverage.",
)
@json_option
def prove(
    record_dir: Path | None,
    keep: bool,
    source_dir: Path,
    coverage_threshold: float,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Create a scratch org, deploy force-app with its Apex tests, create an integration user holding
    only the shipped permission sets, run the contract as that user (--record DIR), check the
    recording's scrubbing, delete the org (also on failure, unless --keep). Prints a report per step.
    """
    from ..contract_test import RunOptions, run_contract_test
    from ..contract_test.report import summary_table
    from ..org import scratch_registry
    from ..org.scratch import delete_scratch_org
    from ..org.scratch_deploy import assign_permission_set, deploy_source, report_lines
    from ..org.scratch_prove import (
        ProveReport,
        ProveSteps,
        RoutingSession,
        create_integration_user,
    )
    from ..org.scratch_prove import (
        prove as run_prove,
    )
    from ..settings import load_settings

    settings = load_settings(Path.cwd())
    from ..org.permsets import integration_permission_sets

    permission_sets = list(integration_permission_sets(settings))  # the one list deploy and doctor use
    holder: dict[str, Any] = {}

    def create() -> Any:
        result = _create(kwargs, None, holder)
        holder["result"] = result
        return result

    def make_user(admin: Any, alias: str) -> Any:
        client_id = holder["result"].org.login.get("clientId", "PlatformCLI")
        return create_integration_user(
            admin,
            settings=settings,
            permission_sets=permission_sets,
            client_id=client_id,
            assign=assign_permission_set,
        )

    def remember(created: Any, integration: Any) -> None:
        admin = created.session
        routing = RoutingSession(integration.session.headers["Authorization"].split(" ", 1)[1])
        routing.headers.update(admin.session.headers)
        admin.session = routing

    def contract(alias: str) -> Any:
        return run_contract_test(
            RunOptions(record_dir=record_dir, auth={"target_org": alias}, settings=settings),
            on_result=None,
        )

    def contract_lines(report: Any) -> list[str]:
        return summary_table(report, lambda text, colour: text).splitlines()

    def delete_org(found: Any) -> str:
        from ..org.scratch import dev_hub_options_from_facts

        auth = dev_hub_options_from_facts(found.dev_hub_login, kwargs.get("api_version")) or _dev_hub_auth(
            kwargs
        )
        hub = _connect_hub(auth, settings.api_version)
        record_id = delete_scratch_org(hub, found)
        scratch_registry.remove(found)
        return record_id

    steps = ProveSteps(
        create=create,
        deploy=lambda session: deploy_source(
            session, source_dir, coverage_threshold=coverage_threshold, poll_interval=kwargs["poll_interval"]
        ),
        deploy_lines=report_lines,
        make_user=make_user,
        contract=contract,
        contract_lines=contract_lines,
        delete=delete_org,
        left_behind=lambda: holder.get("org"),
        remember=remember,
        record_dir=record_dir,
        keep=keep,
    )

    def on_step(step: Any) -> None:
        click.echo(f"{step.name}: {step.result} ({step.seconds:.1f}s)", err=True)

    report = run_prove(steps, ProveReport(), on_step)
    emit(
        {"ok": report.ok, "steps": [_step_json(step) for step in report.steps]},
        report.lines(),
    )
    sys.stdout.flush()
    if not report.ok:
        failed = [s.name for s in report.steps if s.result == "failed"]
        raise CheckFailed(f"org prove failed at: {', '.join(failed)}")


def _step_json(step: Any) -> dict[str, Any]:
    """A proof step for --json (its fields as they are, when it is a dataclass)."""
    if dataclasses.is_dataclass(step):
        return {
            k: v
            for k, v in dataclasses.asdict(step).items()
            if isinstance(v, str | int | float | bool | list)
        }
    return {"name": getattr(step, "name", ""), "result": getattr(step, "result", "")}
