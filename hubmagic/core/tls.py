"""Certificates and proxies for hub downloads, as the ecosystem sets them.

(Being written for issue 13: ``TFHUB_DISABLE_CERT_VALIDATION``,
``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``, ``HTTPS_PROXY`` / ``NO_PROXY``.)
"""

from __future__ import annotations

from typing import Any

from hubmagic.core.errors import DownloadError, Fix


def configure(session: Any) -> None:
    """Applies the certificate settings in force to a new ``requests`` session."""


def certificate_error(url: str, reason: str) -> DownloadError:
    """The one-line error for a TLS certificate failure, naming the fixes."""
    return DownloadError(
        f"Could not verify the certificate of {url}: {reason}.",
        url=url,
        fix=Fix(
            "Point REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) at the CA bundle that signed it, or "
            "set TFHUB_DISABLE_CERT_VALIDATION=true to skip the check (unsafe)."
        ),
    )
