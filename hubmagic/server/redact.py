"""Secrets out of log lines: signed-URL parameters, tokens, ``user:password@``.

A request to the hub server can carry credentials meant for somewhere else: a
client that follows a signed Cloud Storage or S3 URL, a proxy that forwards
``?token=...``, an absolute-form target with ``user:password@``. The server's
log shows each request line, so :func:`redact` replaces the values of such
query parameters, of credential headers and of URL user information with
``REDACTED`` before a line is logged. Other parameters (``tf-hub-format``) stay
readable.

The server stands alone on purpose, so this is its own small redaction, not
the one of the rest of hubmagic.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["REDACTED", "is_secret_name", "redact"]

REDACTED = "REDACTED"
"""What a secret value is replaced with."""

_SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "code",
        "credential",
        "expires",
        "googleaccessid",
        "jwt",
        "key",
        "password",
        "passwd",
        "pwd",
        "secret",
        "session",
        "sessionid",
        "sig",
        "signature",
        "token",
    }
)
_SECRET_PREFIXES = ("x-goog-", "x-amz-", "x-ms-")
_SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "credentials",
    "_key",
    "-key",
    "apikey",
)

# A query parameter: after ?, & or ;, a name, =, a value up to the next separator.
_PARAM = re.compile(r"(?<=[?&;])([^=&;#?\s\"']+)=([^&;#\s\"']*)")
# URL user information: scheme://userinfo@ (userinfo cannot hold / or @).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s\"']+@")
# A credential header written out as "Name: value".
_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|"
    r"x-goog-api-key|x-amz-security-token)(\s*:\s*)([^\r\n\"']*)"
)


def is_secret_name(name: str) -> bool:
    """True when a query parameter called ``name`` carries a secret (case-insensitive)."""
    name = unquote(name).strip().lower()
    return (
        name in _SECRET_NAMES
        or name.startswith(_SECRET_PREFIXES)
        or name.endswith(_SECRET_SUFFIXES)
    )


def _param(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if value and is_secret_name(name):
        return f"{name}={REDACTED}"
    return match.group(0)


def redact(text: str) -> str:
    """``text`` with secret query values, credential headers and user information replaced.

    Example:
        >>> redact('"GET /m?X-Goog-Signature=abc&tf-hub-format=compressed HTTP/1.1"')
        '"GET /m?X-Goog-Signature=REDACTED&tf-hub-format=compressed HTTP/1.1"'
    """
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _HEADER.sub(rf"\1\2{REDACTED}", text)
    return _PARAM.sub(_param, text)
