"""The org login inputs, once: ``auth.AuthOptions.from_click`` reads these names and
``options.login_options`` builds the command line options from the same list, so the two cannot
drift. The order is the order ``--help`` shows them (auth.py tries the flows in its own order).

No imports here: every command's option list is built from this at import time.
"""

from __future__ import annotations

from typing import NamedTuple


class LoginInput(NamedTuple):
    name: str  # the keyword argument (and AuthOptions field) name; the option is --name-with-dashes
    envvar: str
    help: str
    short: str | None = None  # a one-letter alias, e.g. -o
    default: str | None = None
    is_file: bool = False
    is_flag: bool = False  # an on/off switch, e.g. an interactive login


LOGIN_INPUTS: tuple[LoginInput, ...] = (
    LoginInput("instance_url", "SF_INSTANCE_URL", "Org URL, e.g. https://acme.my.salesforce.com."),
    LoginInput("access_token", "SF_ACCESS_TOKEN", "An OAuth access token (session id) for the org."),
    LoginInput("target_org", "SF_TARGET_ORG", "Alias or username known to the sf CLI.", short="-o"),
    LoginInput("client_id", "SF_CLIENT_ID", "Consumer key of the External Client App."),
    LoginInput("client_secret", "SF_CLIENT_SECRET", "Consumer secret (client credentials flow)."),
    LoginInput("jwt_key_file", "SF_JWT_KEY_FILE", "Private key file for the JWT bearer flow.", is_file=True),
    LoginInput("username", "SF_USERNAME", "Username (JWT bearer or password flow)."),
    LoginInput("password", "SF_PASSWORD", "Password (deprecated username-password flow)."),
    LoginInput("security_token", "SF_SECURITY_TOKEN", "Security token (password flow)."),
    LoginInput(
        "login_domain",
        "SF_LOGIN_DOMAIN",
        "'login' (production), 'test' (sandbox, scratch) or a My Domain prefix such as 'acme.my'.",
        default="login",
    ),
    LoginInput(
        "api_version",
        "SF_API_VERSION",
        "API version to use, e.g. 66.0 (default: the org's newest that jtel-sf supports, 61.0 to 68.0).",
    ),
    LoginInput(
        "browser_login",
        "SF_BROWSER_LOGIN",
        "Log in interactively in the browser (OAuth web server flow with PKCE on localhost) with "
        "--client-id and --instance-url; no sf CLI needed. The token stays in memory (the refresh token "
        "in the OS keyring if the keyring package is installed).",
        is_flag=True,
    ),
)

LOGIN_OPTION_NAMES: tuple[str, ...] = tuple(item.name for item in LOGIN_INPUTS)
