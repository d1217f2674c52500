"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable JSON document instead of text."
)


def org_auth_options(func: F) -> F:
    """Every way to reach an org, in the order they are tried (see ``jtel_sf.auth``).

    Secrets can also come from the environment so they never need to be typed on a command line.
    """
    decorators = [
        click.option(
            "--instance-url",
            show_envvar=True,
            envvar="SF_INSTANCE_URL",
            help="Org URL, e.g. https://acme.my.salesforce.com.",
        ),
        click.option(
            "--access-token",
            show_envvar=True,
            envvar="SF_ACCESS_TOKEN",
            help="An OAuth access token (session id) for the org.",
        ),
        click.option(
            "--target-org",
            "-o",
            show_envvar=True,
            envvar="SF_TARGET_ORG",
            help="Alias or username known to the sf CLI.",
        ),
        click.option(
            "--client-id",
            show_envvar=True,
            envvar="SF_CLIENT_ID",
            help="Consumer key of the External Client App.",
        ),
        click.option(
            "--client-secret",
            show_envvar=True,
            envvar="SF_CLIENT_SECRET",
            help="Consumer secret (client credentials flow).",
        ),
        click.option(
            "--jwt-key-file",
            show_envvar=True,
            envvar="SF_JWT_KEY_FILE",
            type=click.Path(dir_okay=False),
            help="Private key file for the JWT bearer flow.",
        ),
        click.option(
            "--username",
            show_envvar=True,
            envvar="SF_USERNAME",
            help="Username (JWT bearer or password flow).",
        ),
        click.option(
            "--password",
            show_envvar=True,
            envvar="SF_PASSWORD",
            help="Password (deprecated username-password flow).",
        ),
        click.option(
            "--security-token",
            show_envvar=True,
            envvar="SF_SECURITY_TOKEN",
            help="Security token (password flow).",
        ),
        click.option(
            "--login-domain",
            show_envvar=True,
            envvar="SF_LOGIN_DOMAIN",
            default="login",
            show_default=True,
            help="'login' (production), 'test' (sandbox, scratch) or a My Domain prefix such as 'acme.my'.",
        ),
        click.option(
            "--api-version",
            show_envvar=True,
            envvar="SF_API_VERSION",
            help="API version to use, e.g. 66.0 (default: the org's newest that jtel-sf supports).",
        ),
        click.option(
            "--browser-login",
            is_flag=True,
            help="Log in interactively in the browser (OAuth web server flow with PKCE on localhost) with "
            "--client-id and --instance-url; no sf CLI needed. The token stays in memory (the refresh "
            "token in the OS keyring if the keyring package is installed).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
