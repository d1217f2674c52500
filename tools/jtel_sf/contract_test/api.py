"""The REST calls a contract-test run makes: the endpoint itself, sObject create/get/delete, get by
external ID, a child relationship and one SOQL query (the agent user). The org and the local
endpoint serve all of them with the same paths and shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from ..settings import Settings

HTTP_TIMEOUT = 60


class ApiError(Exception):
    """An org answer the run did not expect (the message names the request and the answer)."""


@dataclass
class Target:
    """Where the cases run: ``kind`` is the ``runsOn`` name (``org`` or ``local``)."""

    kind: str
    session: requests.Session
    instance_url: str
    api_version: str
    settings: Settings = field(default_factory=Settings)
    refresh: Callable[[], None] | None = None
    description: str = ""


def error_text(response: requests.Response, limit: int = 300) -> str:
    """``HTTP 404 NOT_FOUND: message`` from a Salesforce-shaped error answer."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return f"HTTP {response.status_code}" + (f": {text[:limit]}" if text else "")
    if isinstance(body, list) and body and isinstance(body[0], dict):
        parts = [": ".join(str(e.get(k)) for k in ("errorCode", "message") if e.get(k)) for e in body]
        return f"HTTP {response.status_code} " + "; ".join(parts)[:limit]
    return f"HTTP {response.status_code} " + json.dumps(body, ensure_ascii=False)[:limit]


class Api:
    def __init__(self, target: Target) -> None:
        self.target = target

    # -- plumbing -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        base = self.target.instance_url.rstrip("/")
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return base + path
        return f"{base}/services/data/v{self.target.api_version}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        response = self.target.session.request(method, self.url(path), **kwargs)
        if response.status_code == 401 and self.target.refresh is not None:
            self.target.refresh()
            response = self.target.session.request(method, self.url(path), **kwargs)
        return response

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"{what}: the answer is not JSON ({error_text(response)})") from None

    # -- the endpoint -------------------------------------------------------------------------
    @property
    def endpoint_path(self) -> str:
        return f"/services/apexrest/{self.target.settings.url_path}"

    def send(self, body: bytes) -> requests.Response:
        """POST the exact bytes as jtel does: bearer token (on the session), JSON content type."""
        return self.request(
            "POST",
            self.endpoint_path,
            data=body,
            headers={"Content-Type": "application/json"},
        )

    def set_test_hook(self, hook: str | None) -> None:
        """Switch a simulated org-only outcome of the local endpoint on or off (its
        /jtel-sf/test-hook resource; Salesforce has none, so only for the local target)."""
        response = self.request("POST", "/jtel-sf/test-hook", json={"hook": hook})
        if response.status_code != 200:
            raise ApiError(f"test hook {hook!r}: {error_text(response)}")

    def purge_calls(self, call_keys: list[str]) -> None:
        """Run retention on these calls now (the local endpoint's test hook; in an org the retention
        job runs on its schedule, so cases with a purge step run as Apex tests there)."""
        response = self.request("POST", "/jtel-sf/test-hook", json={"purge": {"callKeys": call_keys}})
        if response.status_code != 200:
            raise ApiError(f"purge: {error_text(response)}")

    # -- records ------------------------------------------------------------------------------
    def userinfo(self) -> dict[str, Any]:
        response = self.request("GET", "/services/oauth2/userinfo")
        if response.status_code != 200:
            raise ApiError(f"GET /services/oauth2/userinfo: {error_text(response)}")
        return dict(self._json(response, "userinfo"))

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        response = self.request("POST", f"sobjects/{sobject}", json=fields)
        if response.status_code != 201:
            raise ApiError(f"creating a {sobject}: {error_text(response)}")
        body = self._json(response, f"creating a {sobject}")
        if not isinstance(body, dict) or not body.get("id"):
            raise ApiError(f"creating a {sobject}: no id in the answer")
        return str(body["id"])

    def delete(self, sobject: str, record_id: str) -> bool:
        """True when deleted, False when it was gone already; ApiError otherwise."""
        response = self.request("DELETE", f"sobjects/{sobject}/{record_id}")
        if response.status_code in (200, 204):
            return True
        if response.status_code == 404:
            return False
        raise ApiError(f"deleting {sobject} {record_id}: {error_text(response)}")

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        return self._get_record(f"sobjects/{sobject}/{record_id}", f"{sobject} {record_id}")

    def get_by_external_id(self, sobject: str, field_name: str, value: str) -> dict[str, Any] | None:
        path = f"sobjects/{sobject}/{field_name}/{quote(value, safe='')}"
        return self._get_record(path, f"{sobject} with {field_name} = {value}")

    def _get_record(self, path: str, what: str) -> dict[str, Any] | None:
        response = self.request("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ApiError(f"reading {what}: {error_text(response)}")
        body = self._json(response, f"reading {what}")
        if not isinstance(body, dict):
            raise ApiError(f"reading {what}: unexpected answer {json.dumps(body)[:200]}")
        return body

    def children(self, sobject: str, record_id: str, relationship: str) -> list[dict[str, Any]]:
        """All records of a child relationship (``sobjects/JtelCall__c/{id}/Rows``)."""
        what = f"{sobject} {record_id} {relationship}"
        response = self.request("GET", f"sobjects/{sobject}/{record_id}/{relationship}")
        if response.status_code in (204, 404):
            return []
        if response.status_code != 200:
            raise ApiError(f"reading {what}: {error_text(response)}")
        body = self._json(response, f"reading {what}")
        records: list[dict[str, Any]] = []
        while True:
            if isinstance(body, dict) and "records" in body:
                records.extend(body["records"])
            elif isinstance(body, dict):
                records.append(body)
            next_url = body.get("nextRecordsUrl") if isinstance(body, dict) else None
            if not next_url or body.get("done", True):
                return records
            response = self.request("GET", next_url)
            if response.status_code != 200:
                raise ApiError(f"reading {what}: {error_text(response)}")
            body = self._json(response, f"reading {what}")

    def query(self, soql: str) -> list[dict[str, Any]]:
        response = self.request("GET", "query", params={"q": soql})
        if response.status_code != 200:
            raise ApiError(f"query {soql!r}: {error_text(response)}")
        body = self._json(response, "query")
        return list(body.get("records", [])) if isinstance(body, dict) else []
