"""The four Metadata API SOAP operations a deploy needs, on the documented wire format.

Metadata API Developer Guide (SOAP, ``/services/Soap/m/<version>``, namespace
``http://soap.sforce.com/2006/04/metadata``):

- ``deploy(base64Binary ZipFile, DeployOptions)`` -> ``AsyncResult`` (its ``id`` is the deploy id);
- ``checkDeployStatus(ID asyncProcessId, boolean includeDetails)`` -> ``DeployResult``; with
  ``includeDetails`` it carries ``details`` (componentFailures, runTestResult with failures,
  successes, codeCoverage and codeCoverageWarnings);
- ``deployRecentValidation(ID validationID)`` -> ``string``, the id of the quick deploy;
- ``cancelDeploy(ID id)`` -> ``CancelDeployResult`` (``done``, ``id``).

We call them ourselves (through ``OrgSession.metadata_soap``, which puts the session id in the
``SessionHeader``) instead of simple-salesforce's ``deploy``/``checkDeployStatus``: those drop the
details we report (line numbers, coverage, passing tests), poll through a private method and merge
SOAP headers into the connection's shared REST headers (platform facts, Tooling).

``DeployOptions`` elements are written in the WSDL's sequence order (allowMissingFiles,
autoUpdatePackage, checkOnly, ignoreWarnings, performRetrieve, purgeOnDelete, rollbackOnError,
runTests*, singlePackage, testLevel).
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Protocol
from xml.sax.saxutils import escape

MD = "{http://soap.sforce.com/2006/04/metadata}"
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class SoapCaller(Protocol):
    def metadata_soap(self, action: str, body_xml: str) -> ET.Element: ...


def _bool(value: bool) -> str:
    return "true" if value else "false"


def is_record_id(value: str) -> bool:
    """A 15- or 18-character Salesforce Id (a deploy id starts with ``0Af``)."""
    return bool(_ID.match(value or ""))


def deploy(
    org: SoapCaller,
    zip_bytes: bytes,
    *,
    check_only: bool,
    test_level: str,
    run_tests: Sequence[str] = (),
    rollback_on_error: bool = True,
) -> str:
    """Start a deploy; returns its id (``AsyncResult.id``)."""
    options = [
        "<met:allowMissingFiles>false</met:allowMissingFiles>",
        "<met:autoUpdatePackage>false</met:autoUpdatePackage>",
        f"<met:checkOnly>{_bool(check_only)}</met:checkOnly>",
        "<met:ignoreWarnings>false</met:ignoreWarnings>",
        "<met:performRetrieve>false</met:performRetrieve>",
        "<met:purgeOnDelete>false</met:purgeOnDelete>",
        f"<met:rollbackOnError>{_bool(rollback_on_error)}</met:rollbackOnError>",
        *(f"<met:runTests>{escape(name)}</met:runTests>" for name in run_tests),
        "<met:singlePackage>true</met:singlePackage>",
        f"<met:testLevel>{escape(test_level)}</met:testLevel>",
    ]
    body = (
        f"<met:ZipFile>{base64.b64encode(zip_bytes).decode('ascii')}</met:ZipFile>"
        f"<met:DeployOptions>{''.join(options)}</met:DeployOptions>"
    )
    response = org.metadata_soap("deploy", body)
    return (response.findtext(f"{MD}result/{MD}id") or "").strip()


def check_deploy_status(org: SoapCaller, deploy_id: str) -> ET.Element:
    """The ``DeployResult`` element of ``checkDeployStatus(deploy_id, includeDetails=true)``."""
    body = (
        f"<met:asyncProcessId>{escape(deploy_id)}</met:asyncProcessId>"
        "<met:includeDetails>true</met:includeDetails>"
    )
    response = org.metadata_soap("checkDeployStatus", body)
    result = response.find(f"{MD}result")
    return result if result is not None else ET.Element(f"{MD}result")


def deploy_recent_validation(org: SoapCaller, validation_id: str) -> str:
    """Quick-deploy a validation that succeeded; returns the new deploy's id."""
    response = org.metadata_soap(
        "deployRecentValidation", f"<met:validationId>{escape(validation_id)}</met:validationId>"
    )
    return (response.findtext(f"{MD}result") or "").strip()


def cancel_deploy(org: SoapCaller, deploy_id: str) -> bool:
    """Ask the org to cancel a deploy; True when it says the cancellation is done."""
    response = org.metadata_soap("cancelDeploy", f"<met:String>{escape(deploy_id)}</met:String>")
    return (response.findtext(f"{MD}result/{MD}done") or "").strip() == "true"
