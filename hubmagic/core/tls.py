"""Certificates and proxies for hub downloads, as the ecosystem sets them.

Every ``requests`` session hubmagic opens goes through :func:`configure`
(:func:`hubmagic.core.http.new_session`). What it honours, first match wins:

- ``TFHUB_DISABLE_CERT_VALIDATION=true``: tensorflow_hub's variable, with its
  one accepted value (``resolver.py`` compares it to ``"true"`` exactly; any
  other value leaves verification on there, and here, and ``%hub_info`` says it
  is ignored). Certificates of hub downloads are then not checked, urllib3's
  ``InsecureRequestWarning`` for each request is silenced for the hosts hubmagic
  talks to, and one :class:`CertificateValidationWarning` per process (plus the
  CONNECTING event of each download, and ``%hub_info``) says it is off.
- ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``: requests reads both itself.
- ``SSL_CERT_FILE``: OpenSSL's variable, which requests does not read (it uses
  certifi's bundle); honoured here when the two above are unset.
- else certifi's bundle, as requests does.

A bundle variable naming no file is an :class:`InvalidSettingError` (requests
would fail each request with an ``OSError`` that names no variable).

The choice is forced on the session with a transport adapter, not only
``session.verify``: requests lets ``REQUESTS_CA_BUNDLE`` override
``session.verify = False`` (psf/requests#3829), which would keep
``TFHUB_DISABLE_CERT_VALIDATION`` from working where a bundle is also set.

Proxies are requests' own (``trust_env``): ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``ALL_PROXY`` and ``NO_PROXY``, lower case first, as urllib reads them;
:func:`proxies` describes them for ``%hub_info`` without any password.

A certificate failure is never retried (it fails the same way each time):
:func:`certificate_error` is the one line that names the fixes.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubmagic.core import config
from hubmagic.core.errors import DownloadError, Fix, InvalidSettingError
from hubmagic.core.redact import redact

TFHUB_DISABLE_CERT_VALIDATION = "TFHUB_DISABLE_CERT_VALIDATION"
DISABLED_VALUE = "true"
"""The one value tensorflow_hub accepts (``_TFHUB_DISABLE_CERT_VALIDATION_VALUE``)."""
BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
"""The CA bundle variables, in the order they are honoured."""
PROXY_SCHEMES = ("https", "http", "all")


class CertificateValidationWarning(UserWarning):
    """Hub downloads run without checking certificates (``TFHUB_DISABLE_CERT_VALIDATION``)."""


@dataclass(frozen=True)
class Certificates:
    """How the certificates of hub downloads are checked now.

    Attributes:
        verify: what ``requests`` gets: ``True`` (certifi), a bundle path, or ``False``.
        source: ``"certifi"``, a variable of :data:`BUNDLE_VARIABLES`, or
            ``TFHUB_DISABLE_CERT_VALIDATION``.
        ignored: a ``TFHUB_DISABLE_CERT_VALIDATION`` value other than ``"true"``
            (left without effect, as tensorflow_hub does).
        problem: why the bundle named cannot be used (then downloads fail).
    """

    verify: bool | str
    source: str
    ignored: str | None = None
    problem: str | None = None

    @property
    def disabled(self) -> bool:
        return self.verify is False

    def describe(self) -> str:
        """One line for ``%hub_info``."""
        if self.problem is not None:
            return self.problem
        if self.verify is False:
            return f"NOT verified ({TFHUB_DISABLE_CERT_VALIDATION})"
        text = "verified (certifi)" if self.verify is True else f"verified with {self.source}="
        if isinstance(self.verify, str):
            text += self.verify
        if self.ignored is not None:
            text += (
                f"; {TFHUB_DISABLE_CERT_VALIDATION}={self.ignored!r} is ignored (only "
                f"{DISABLED_VALUE!r} turns checks off, as in tensorflow_hub)"
            )
        return text


def certificates(environ: Mapping[str, str] | None = None) -> Certificates:
    """The certificate settings in force (see the module doc for the order)."""
    env = config.environ() if environ is None else environ
    flag = env.get(TFHUB_DISABLE_CERT_VALIDATION)
    if flag == DISABLED_VALUE:
        return Certificates(False, TFHUB_DISABLE_CERT_VALIDATION)
    ignored = flag if flag else None
    for name in BUNDLE_VARIABLES:
        path = env.get(name)
        if not path:
            continue
        if not os.path.exists(path):
            return Certificates(
                path, name, ignored, f"{name}={path} names no file or folder: downloads will fail"
            )
        return Certificates(path, name, ignored)
    return Certificates(True, "certifi", ignored)


def configure(session: Any) -> None:
    """Applies the certificate settings in force to a new ``requests`` session.

    Raises:
        InvalidSettingError: a CA bundle variable names no file.
    """
    chosen = certificates()
    if chosen.problem is not None:
        raise InvalidSettingError(
            f"{chosen.source}={chosen.verify} names no file or folder, so no certificate "
            "can be checked.",
            fix=Fix(
                f"Point {chosen.source} at a PEM bundle of the CA certificates to trust, or "
                "unset it to use certifi's."
            ),
        )
    if chosen.verify is True:
        return  # requests' own behaviour: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE or certifi
    if chosen.disabled:
        _warn_once()
    session.verify = chosen.verify
    session.mount("https://", _adapter(chosen.verify))


def connecting_note(url: str) -> str:
    """What the CONNECTING event of a download adds when its certificate goes unchecked."""
    if url.lower().startswith("https://") and certificates().disabled:
        return f" (certificate NOT verified: {TFHUB_DISABLE_CERT_VALIDATION}=true)"
    return ""


def certificate_error(url: str, reason: str) -> DownloadError:
    """The one-line error for a TLS certificate failure, naming the fixes."""
    return DownloadError(
        f"Could not verify the certificate of {url}: {_gist(reason)}.",
        url=url,
        fix=Fix(
            "Point REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) at the CA bundle that signed it, or "
            "set TFHUB_DISABLE_CERT_VALIDATION=true to skip the check (unsafe)."
        ),
    )


def _gist(reason: str) -> str:
    """The OpenSSL reason out of requests' nested error text, on one line."""
    found = re.search(r"certificate verify failed: (.+?)(?: \(_ssl\.c:\d+\)|'\)|\"\)|$)", reason)
    if found:
        return "certificate verify failed: " + found.group(1).strip()
    one_line = " ".join(reason.split())
    return one_line if len(one_line) <= 200 else one_line[:197] + "..."


# -- proxies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """One proxy variable in force: ``scheme`` is ``https``, ``http`` or ``all``."""

    scheme: str
    variable: str
    address: str
    """``scheme://host:port``: never the user name or password."""
    has_credentials: bool


@dataclass(frozen=True)
class Proxies:
    """The proxy variables requests will use, without any password."""

    proxies: tuple[Proxy, ...]
    no_proxy: str | None
    no_proxy_variable: str | None

    def describe(self) -> str:
        """One line for ``%hub_info``."""
        if not self.proxies:
            return "none"
        parts = []
        for proxy in self.proxies:
            login = " (with a login)" if proxy.has_credentials else ""
            parts.append(f"{proxy.variable}={proxy.address}{login}")
        return ", ".join(parts)


def _variable(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``name`` as urllib reads it: lower case first, then upper case."""
    for variable in (name.lower(), name.upper()):
        value = env.get(variable)
        if value:
            return variable, value
    return None


def proxy_address(value: str) -> tuple[str, bool]:
    """``scheme://host:port`` of a proxy URL, and whether it carried a login."""
    parsed = urllib.parse.urlsplit(value if "://" in value else f"http://{value}")
    try:
        host = parsed.hostname or ""
        port = parsed.port
    except ValueError:
        return redact(value), "@" in value
    if ":" in host:
        host = f"[{host}]"
    address = f"{parsed.scheme}://{host}" + (f":{port}" if port else "")
    return redact(address), bool(parsed.username or parsed.password)


def proxies(environ: Mapping[str, str] | None = None) -> Proxies:
    """The proxies of the environment, as requests (through urllib) reads them."""
    env = config.environ() if environ is None else environ
    found = []
    for scheme in PROXY_SCHEMES:
        got = _variable(env, f"{scheme}_proxy")
        if got is not None:
            address, login = proxy_address(got[1])
            found.append(Proxy(scheme, got[0], address, login))
    no_proxy = _variable(env, "no_proxy")
    return Proxies(
        tuple(found),
        redact(no_proxy[1]) if no_proxy else None,
        no_proxy[0] if no_proxy else None,
    )


# -- the unchecked case -------------------------------------------------------------

_lock = threading.Lock()
_warned = False


def _warn_once() -> None:
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        CertificateValidationWarning(
            f"hubmagic: {TFHUB_DISABLE_CERT_VALIDATION}=true: the certificates of hub "
            "downloads are NOT verified; unset it, or point REQUESTS_CA_BUNDLE at the CA "
            "bundle to trust."
        ),
        stacklevel=_outside_hubmagic(),
    )


def _outside_hubmagic() -> int:
    """The ``stacklevel`` of the first caller outside hubmagic (the user's cell or script)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame = sys._getframe(1)  # _warn_once's frame: stacklevel 1
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _quiet(url: str) -> None:
    """Silences urllib3's InsecureRequestWarning for ``url``'s host (said once instead)."""
    import urllib3.exceptions

    host = urllib.parse.urlsplit(url).hostname or ""
    pattern = f"Unverified HTTPS request is being made to host '{re.escape(host)}'"
    category = urllib3.exceptions.InsecureRequestWarning
    for action, message, kind, _module, _line in list(warnings.filters):
        if action == "ignore" and kind is category and getattr(message, "pattern", "") == pattern:
            return
    warnings.filterwarnings("ignore", message=pattern, category=category)


def _adapter(verify: bool | str) -> Any:
    """A transport adapter that sends with ``verify``, whatever the environment says."""
    from requests.adapters import HTTPAdapter

    class _Verifying(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["verify"] = verify
            if verify is False:
                _quiet(str(request.url))
            return super().send(request, *args, **kwargs)

    return _Verifying()
