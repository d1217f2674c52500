"""A whole contract-test run: pick the cases, reach the target (org, local endpoint or recording),
run every case, record if asked, and hand back the results."""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from .. import __version__
from ..contract import ContractCase, load_cases
from ..errors import AuthError, UsageError
from ..settings import Settings
from .api import Target, error_text
from .runner import FAILED, PASSED, SKIPPED, CaseResult, CaseRunner
from .scrub import PLACEHOLDER_API_VERSION, PLACEHOLDER_URL, Scrubber
from .transport import RECORDING_FILE, Recorder, Recording, ReplayAdapter

SOURCE_LOCAL = "local-stand-in"
SOURCE_ORG = "org"
_SOURCE_TEXT = {
    SOURCE_LOCAL: (
        "Recorded by `jtel-sf contract-test --local --record` against jtel-sf's local stand-in "
        "(jtel_sf.local.server.LocalServer), NOT against a real Salesforce org. It proves the client "
        "side and the local endpoint only; nothing in it was verified against Salesforce."
    ),
    SOURCE_ORG: (
        "Recorded by `jtel-sf contract-test --record` against a Salesforce org, then scrubbed "
        "(tokens, session ids, org and record ids, hosts, API version, personal data)."
    ),
}


@dataclass
class RunOptions:
    cases_path: Path | None = None
    pattern: str | None = None
    local: bool = False
    record_dir: Path | None = None
    replay_dir: Path | None = None
    keep: bool = False
    seed: int | None = None  # derive call ids from this seed instead of a random one
    auth: dict[str, Any] = field(default_factory=dict)  # the org_auth_options values
    settings: Settings | None = None


@dataclass
class RunReport:
    target_kind: str
    target_description: str
    seed: int
    results: list[CaseResult] = field(default_factory=list)
    duration: float = 0.0
    interrupted: bool = False
    recorded_to: Path | None = None
    replayed: bool = False

    def count(self, result: str) -> int:
        return sum(1 for r in self.results if r.result == result)

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.count(FAILED) == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target_kind,
            "targetDescription": self.target_description,
            "seed": self.seed,
            "replayed": self.replayed,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "durationSeconds": round(self.duration, 3),
            "summary": {
                "cases": len(self.results),
                PASSED: self.count(PASSED),
                FAILED: self.count(FAILED),
                SKIPPED: self.count(SKIPPED),
            },
            "cases": [r.as_dict() for r in self.results],
        }


def select_cases(cases_path: Path | None, pattern: str | None) -> list[ContractCase]:
    if cases_path is not None and not Path(cases_path).exists():
        raise UsageError(f"--cases: {cases_path} does not exist")
    try:
        cases = load_cases(cases_path)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        where = cases_path or "the built-in cases"
        raise UsageError(
            f"--cases: {where}: not readable as contract cases ({type(exc).__name__}: {exc})"
        ) from None
    if pattern:
        wildcard = any(ch in pattern for ch in "*?[")
        lowered = pattern.lower()
        cases = [
            c
            for c in cases
            if (fnmatch.fnmatchcase(c.name, pattern) if wildcard else lowered in c.name.lower())
        ]
    if not cases:
        raise UsageError("no contract case matches" + (f" -k {pattern!r}" if pattern else ""))
    return cases


def _settings(options: RunOptions) -> Settings:
    if options.settings is not None:
        return options.settings
    from ..settings import load_settings

    return load_settings()


def _bearer(session: requests.Session) -> str | None:
    value = str(session.headers.get("Authorization", ""))
    return value.split(" ", 1)[1] if value.lower().startswith("bearer ") else None


@contextlib.contextmanager
def _local_target(settings: Settings, api_version: str | None) -> Iterator[tuple[Target, list[str]]]:
    """A LocalServer on a free loopback port with a throw-away database, logged in like jtel."""
    from ..local.server import LocalServer

    with tempfile.TemporaryDirectory(prefix="jtel-sf-contract-") as tmp:
        server = LocalServer(
            host="127.0.0.1", port=0, db_path=Path(tmp) / "local.db", settings=settings, quiet=True
        )
        server.start()
        try:
            session = requests.Session()
            answer = session.post(
                f"{server.base_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": server.client_id,
                    "client_secret": server.client_secret,
                },
                timeout=30,
            )
            if answer.status_code != 200:
                raise AuthError(f"the local endpoint refused the login: {error_text(answer)}")
            token = answer.json()
            session.headers["Authorization"] = f"Bearer {token['access_token']}"
            session.headers["Accept"] = "application/json"
            target = Target(
                kind="local",
                session=session,
                instance_url=str(token.get("instance_url") or server.base_url),
                api_version=(api_version or settings.api_version).strip().lstrip("vV"),
                settings=settings,
                description=f"the local stand-in at {server.base_url}",
            )
            yield target, [str(token["access_token"]), str(server.client_secret)]
        finally:
            server.stop()


@contextlib.contextmanager
def _org_target(options: RunOptions, settings: Settings) -> Iterator[tuple[Target, list[str]]]:
    from ..auth import AuthOptions, connect

    auth_options = AuthOptions.from_click(options.auth)
    org = connect(auth_options)
    target = Target(
        kind="org",
        session=org.session,
        instance_url=org.instance_url,
        api_version=org.api_version,
        settings=settings,
        refresh=org.refresh if org.can_refresh else None,
        description=f"the org at {org.instance_url}",
    )
    secret_values = [s for s in [_bearer(org.session), *auth_options.secrets()] if s]
    try:
        yield target, secret_values
    finally:
        org.session.close()


@contextlib.contextmanager
def _replay_target(directory: Path, settings: Settings) -> Iterator[tuple[Target, Recording, ReplayAdapter]]:
    if not (directory / RECORDING_FILE).is_file():
        raise UsageError(f"--replay: {directory} holds no recording ({RECORDING_FILE} is missing)")
    recording = Recording.load(directory)
    adapter = ReplayAdapter(recording)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # the settings the run was recorded with (they shape the requests), else the project's
    recorded = recording.meta.get("settings")
    if isinstance(recorded, dict):
        known = set(dataclasses.asdict(settings))
        settings = Settings(**{k: v for k, v in recorded.items() if k in known})
    url_path = str(recording.meta.get("urlPath") or settings.url_path)
    source = str(recording.meta.get("recordedFrom", "an unknown source"))
    target = Target(
        kind=str(recording.meta.get("target", "org")),
        session=session,
        instance_url=PLACEHOLDER_URL,
        api_version=PLACEHOLDER_API_VERSION,
        settings=dataclasses.replace(settings, url_path=url_path),
        # a recorded 401 followed by the same request again was a token renewal: replay it as one
        refresh=(lambda: None) if recording.meta.get("canRefresh") else None,
        description=f"the recording in {directory}, made on {source}",
    )
    yield target, recording, adapter


def run_contract_test(
    options: RunOptions,
    *,
    on_start: Callable[[RunReport, list[ContractCase]], None] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> RunReport:
    """Run the selected cases against the target the options name. Never raises for a failing
    case (see ``RunReport.ok``); raises UsageError/AuthError for what stops the run from starting.
    KeyboardInterrupt propagates after the current case is cleaned up and the report is filled."""
    if options.replay_dir and (options.record_dir or options.local):
        raise UsageError("--replay runs from a recording: it cannot be combined with --local or --record")
    if options.replay_dir and options.seed is not None:
        raise UsageError("--replay uses the recorded run's seed: leave out --seed")
    if options.local and any(
        v for k, v in options.auth.items() if k != "login_domain" and k != "api_version"
    ):
        raise UsageError("--local starts its own endpoint: leave out the org auth options")
    cases = select_cases(options.cases_path, options.pattern)
    settings = _settings(options)
    with contextlib.ExitStack() as stack:
        recorder: Recorder | None = None
        scrubber: Scrubber | None = None
        if options.replay_dir:
            target, recording, adapter = stack.enter_context(
                _replay_target(Path(options.replay_dir), settings)
            )
            seed = int(recording.meta["seed"])
            scope: Callable[[str | None], None] = adapter.begin
            source = str(recording.meta.get("recordedFrom", SOURCE_ORG))
        else:
            if options.local:
                target, secret_values = stack.enter_context(
                    _local_target(settings, options.auth.get("api_version"))
                )
                source = SOURCE_LOCAL
            else:
                target, secret_values = stack.enter_context(_org_target(options, settings))
                source = SOURCE_ORG
            seed = options.seed if options.seed is not None else secrets.randbelow(9 * 10**8) + 10**8
            scope = lambda _name: None  # noqa: E731
            adapter = None
            if options.record_dir:
                recorder = Recorder()
                recorder.attach(target.session)
                scrubber = Scrubber(secrets=secret_values, instance_url=target.instance_url)
                scope = recorder.begin
        runner = CaseRunner(
            target,
            seed=seed,
            keep=options.keep,
            scope=scope,
            note_body=recorder.note_body if recorder else None,
            note_user_value=(lambda value: scrubber.add_value(value, "agent")) if scrubber else None,
            before_send=adapter.check_upcoming if adapter is not None else None,
        )
        report = RunReport(
            target_kind=target.kind,
            target_description=target.description,
            seed=seed,
            replayed=options.replay_dir is not None,
        )
        if on_start:
            on_start(report, cases)
        started = time.monotonic()
        try:
            runner.identify_running_user()
            for case in cases:
                result = runner.run_case(case)
                if adapter is not None and result.result == PASSED:
                    _check_replay_consumed(adapter, result)
                report.results.append(result)
                if on_result:
                    on_result(result)
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        finally:
            report.duration = time.monotonic() - started
            if recorder is not None and scrubber is not None and options.record_dir:
                meta = {
                    "_source": _SOURCE_TEXT[source],
                    "recordedFrom": source,
                    "target": target.kind,
                    "seed": seed,
                    "urlPath": target.settings.url_path,
                    "settings": dataclasses.asdict(target.settings),
                    "canRefresh": target.refresh is not None,
                    "apiVersion": PLACEHOLDER_API_VERSION,
                    "instanceUrl": PLACEHOLDER_URL,
                    "recordedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "jtelSfVersion": __version__,
                    "interrupted": report.interrupted,
                    "cases": {r.name: r.result for r in report.results},
                }
                recorder.write(Path(options.record_dir), scrubber, meta)
                report.recorded_to = Path(options.record_dir)
    return report


def _check_replay_consumed(adapter: ReplayAdapter, result: CaseResult) -> None:
    left = adapter.unused(result.name)
    if left:
        first = left[0]
        result.result = FAILED
        result.failures.append(
            f"replay: {len(left)} recorded request(s) were never sent, "
            f"the first: {first['method']} {first['path']}"
        )
