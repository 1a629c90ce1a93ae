"""Secrets out of every text hubmagic shows or keeps: :func:`redact`.

Downloads from tfhub.dev and Kaggle end at signed storage URLs
(``?X-Goog-Algorithm=...&X-Goog-Credential=...&X-Goog-Signature=...``, or
``?GoogleAccessId=...&Signature=...``), and a mirror or a handle may carry
``user:password@``. Whoever shows an error, an event or a record passes its
text through here first; in practice that happens in a few places only
(``HubmagicError.__init__``, ``ProgressReporter.emit``, ``descriptor_text``,
the scan of descriptors, the settings and plan records), so no front end has
to remember.

The rule, chosen to keep a handle readable while hiding what signs or
authenticates a request:

- the userinfo of any ``scheme://user:password@host`` becomes ``REDACTED@``
  (``https://REDACTED@host/path``);
- the value of every query parameter that signs or authenticates a request
  becomes ``REDACTED`` (``?X-Goog-Signature=REDACTED&X-Goog-Date=...``),
  wherever it appears: in a full URL or in a bare path like those ``requests``
  and ``urllib3`` put in their messages (``... with url: /o?Signature=...``).
  These are the ``X-Goog-*``, ``X-Amz-*`` and ``X-Ms-*`` parameters and the
  known names below (``Signature``, ``GoogleAccessId``, ``token``, ``key``,
  ``sig``, ...); other parameters, such as ``tf-hub-format`` or a handle's own
  query, stay as they are.

``redact`` is idempotent and leaves text without URLs unchanged. The cache key
is still ``sha1`` of the handle as given (tensorflow_hub's): only what is shown
or written for humans is redacted.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

REDACTED = "REDACTED"

SECRET_PARAMS = frozenset(
    {
        "signature",
        "googleaccessid",
        "sig",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "credential",
        "auth",
        "authorization",
        "x-goog-credential",
    }
)
"""Query parameters whose value is a secret (compared in lower case)."""

SECRET_PREFIXES = ("x-goog-", "x-amz-", "x-ms-")
"""Query parameter prefixes of the signed URLs of Google, AWS and Azure storage."""

# scheme://userinfo@ : the userinfo runs up to the first '@' before any '/', '?', '#'.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/?#\s@'\"<>]+)@")
# ?name=value or &name=value (also &amp; in HTML), anywhere in the text.
_PARAM = re.compile(r"(?P<sep>[?&]|&amp;)(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&\s'\"<>#)]*)")


def _param(match: re.Match[str]) -> str:
    name = match["name"].lower()
    if match["value"] in ("", REDACTED):
        return match[0]
    if name in SECRET_PARAMS or name.startswith(SECRET_PREFIXES):
        return f"{match['sep']}{match['name']}={REDACTED}"
    return match[0]


def redact(text: str) -> str:
    """``text`` with userinfo and signing parameters of every URL in it replaced (see above)."""
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _PARAM.sub(_param, text)


def redact_optional(text: str | None) -> str | None:
    """:func:`redact`, passing ``None`` through."""
    return None if text is None else redact(text)


def redact_data(data: T) -> T:
    """JSON-ready ``data`` with every string in it (keys aside) redacted."""
    if isinstance(data, str):
        return redact(data)  # type: ignore[return-value]
    if isinstance(data, dict):
        return {key: redact_data(value) for key, value in data.items()}  # type: ignore[return-value]
    if isinstance(data, (list, tuple)):
        return type(data)(redact_data(value) for value in data)
    return data
