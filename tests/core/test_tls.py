"""Certificates and proxies as in the ecosystem, against a self-signed HTTPS hub on 127.0.0.1.

The certificate is made with the openssl CLI (tests/tls_fixtures.py). By
default a download fails in one line naming the fixes, never retried; it works
with ``TFHUB_DISABLE_CERT_VALIDATION=true`` (tensorflow_hub's one value), with
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and ``SSL_CERT_FILE``; a forward
proxy on 127.0.0.1 is used when ``HTTP_PROXY`` / ``HTTPS_PROXY`` say so.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path

import certifi
import pytest
import urllib3.exceptions

import hubmagic
from hubmagic.core import tls
from hubmagic.core.errors import DownloadError, InvalidSettingError
from hubmagic.core.http_ranges import HttpRanges
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.range_kinds import Transient
from hubmagic.server import HubServer
from tests import tls_fixtures
from tests.tls_fixtures import Certificate, Proxy, TlsHub

# The fixtures of tests/tls_fixtures.py, used by name.
certificate = tls_fixtures.certificate
tls_models = tls_fixtures.tls_models
tls_hub = tls_fixtures.tls_hub
proxy = tls_fixtures.proxy


@pytest.fixture(autouse=True)
def _warn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-process warning (tests/conftest.py clears the variables)."""
    monkeypatch.setattr(tls, "_warned", False)


def fails_with_certificate_error(handle: str, cache: str) -> DownloadError:
    events: list[ProgressEvent] = []
    began = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        hubmagic.resolve(handle, cache_dir=cache, progress=events.append)
    assert time.monotonic() - began < 10
    assert not [e for e in events if e.phase is Phase.RETRYING]  # never retried
    return caught.value


def read_range(ranges: HttpRanges, start: int, end: int) -> bytes:
    """Bytes ``start`` to ``end`` (excluded) through one ranged connection."""
    into = bytearray(end - start)
    reader = ranges.connect()
    try:
        reader.read_range(start, memoryview(into), lambda n: None, threading.Event())
    finally:
        reader.close()
    return bytes(into)


def test_self_signed_fails_in_one_clear_line(tls_hub: TlsHub, cache: str) -> None:
    handle = f"{tls_hub.url}/google/tls/1"
    error = fails_with_certificate_error(handle, cache)
    text = str(error)
    assert error.message == (
        f"Could not verify the certificate of {handle}?tf-hub-format=compressed: "
        "certificate verify failed: self-signed certificate."
    )
    assert "\n" not in error.message and "\n" not in text
    assert "REQUESTS_CA_BUNDLE" in text and "TFHUB_DISABLE_CERT_VALIDATION=true" in text
    for noise in ("Traceback", "HTTPSConnectionPool", "Max retries", "_ssl.c"):
        assert noise not in text
    assert error.__cause__ is None and error.__context__ is None  # no requests text
    assert not os.path.exists(os.path.join(cache, "google"))


@pytest.mark.parametrize("value", ["1", "True", "TRUE", "yes"])
def test_only_true_disables_validation_as_in_tensorflow_hub(
    tls_hub: TlsHub, cache: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TFHUB_DISABLE_CERT_VALIDATION", value)
    fails_with_certificate_error(f"{tls_hub.url}/google/tls/1", cache)
    assert f"TFHUB_DISABLE_CERT_VALIDATION={value!r} is ignored" in tls.certificates().describe()


def test_disable_cert_validation_true_works_and_warns_once(
    tls_hub: TlsHub, tls_models: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFHUB_DISABLE_CERT_VALIDATION", "true")
    events: list[ProgressEvent] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache, progress=events.append)
        hubmagic.resolve(f"{tls_hub.url}/google/tlsbig/1", cache_dir=cache)
        size = (tls_models / "google" / "tlsbig" / "1.tar.gz").stat().st_size
        url = f"{tls_hub.url}/google/tlsbig/1?tf-hub-format=compressed"
        ranges = HttpRanges(url, url, total=size, validator=None)
        for start in range(0, 40_000, 4000):  # many requests, one warning
            read_range(ranges, start, start + 4000)
    path = hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache)
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    said = [w for w in caught if issubclass(w.category, tls.CertificateValidationWarning)]
    assert len(said) == 1
    assert "TFHUB_DISABLE_CERT_VALIDATION=true" in str(said[0].message)
    assert "NOT verified" in str(said[0].message)
    assert said[0].filename == __file__  # it points at the caller, not into hubmagic
    flood = [w for w in caught if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)]
    assert flood == []
    (connecting,) = [e for e in events if e.phase is Phase.CONNECTING]
    assert connecting.message.endswith(
        "(certificate NOT verified: TFHUB_DISABLE_CERT_VALIDATION=true)"
    )
    assert tls.certificates().describe() == "NOT verified (TFHUB_DISABLE_CERT_VALIDATION)"


def test_disable_wins_over_a_bundle_that_does_not_trust_it(
    tls_hub: TlsHub, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets REQUESTS_CA_BUNDLE override session.verify = False (psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    fails_with_certificate_error(f"{tls_hub.url}/google/tls/1", cache)
    monkeypatch.setenv("TFHUB_DISABLE_CERT_VALIDATION", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tls.CertificateValidationWarning)
        assert os.path.isdir(hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache))


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_ca_bundle_variable_trusts_the_certificate(
    tls_hub: TlsHub,
    tls_models: Path,
    certificate: Certificate,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, str(certificate.cert))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all when verified
        small = hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache)
        # The ranged path (tested for speed-ups in test_ranged.py) over TLS too.
        archive = tls_models / "google" / "tlsbig" / "1.tar.gz"
        got = read_range(
            HttpRanges(
                *[f"{tls_hub.url}/google/tlsbig/1?tf-hub-format=compressed"] * 2,
                total=archive.stat().st_size,
                validator=None,
            ),
            1000,
            5000,
        )
    assert os.path.isfile(os.path.join(small, "saved_model.pb"))
    assert got == archive.read_bytes()[1000:5000]
    assert tls.certificates().describe() == f"verified with {variable}={certificate.cert}"


def test_requests_ca_bundle_comes_before_ssl_cert_file(
    tls_hub: TlsHub, certificate: Certificate, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    fails_with_certificate_error(f"{tls_hub.url}/google/tls/1", cache)


def test_a_bundle_naming_no_file_is_a_setting_error(
    tls_hub: TlsHub, tmp_path: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(InvalidSettingError, match=r"SSL_CERT_FILE=.*nope\.pem names no file"):
        hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache)
    assert tls.certificates().describe().startswith(f"SSL_CERT_FILE={missing} names no file")


def test_default_is_certifi() -> None:
    assert tls.certificates().describe() == "verified (certifi)"
    assert tls.certificates().verify is True


def test_ranges_and_refresh_do_not_retry_certificate_failures(tls_hub: TlsHub) -> None:
    url = f"{tls_hub.url}/google/tls/1?tf-hub-format=compressed"
    ranges = HttpRanges(url, url, total=1000, validator=None)
    reader = ranges.connect()
    began = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="certificate verify failed") as caught:
            reader.read_range(0, memoryview(bytearray(100)), lambda n: None, threading.Event())
    finally:
        reader.close()
    assert not isinstance(caught.value, Transient)
    with pytest.raises(DownloadError, match="Could not verify the certificate"):
        ranges.refresh(ranges.generation)
    assert time.monotonic() - began < 5


# -- proxies --------------------------------------------------------------------------


def test_http_proxy_is_used(
    fake_hub_server: HubServer, proxy: Proxy, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_PROXY")  # tests/conftest.py bypasses proxies for 127.0.0.1
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    handle = f"{fake_hub_server.url}/google/tiny/1"
    assert os.path.isdir(hubmagic.resolve(handle, cache_dir=cache))
    assert proxy.seen == [f"GET {handle}?tf-hub-format=compressed"]


def test_https_proxy_tunnels_to_the_https_hub(
    tls_hub: TlsHub,
    certificate: Certificate,
    proxy: Proxy,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    assert os.path.isdir(hubmagic.resolve(f"{tls_hub.url}/google/tls/1", cache_dir=cache))
    host = tls_hub.url.removeprefix("https://")
    assert proxy.seen == [f"CONNECT {host}"]


def test_no_proxy_bypasses_it(
    fake_hub_server: HubServer, proxy: Proxy, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert os.path.isdir(hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1", cache_dir=cache))
    assert proxy.seen == []


def test_proxies_are_described_without_password() -> None:
    env = {
        "HTTPS_PROXY": "http://alice:s3cret@proxy.corp:3128",
        "http_proxy": "proxy.corp:8080",
        "HTTP_PROXY": "http://ignored:1",
        "NO_PROXY": "localhost,.internal",
    }
    described = tls.proxies(env)
    assert described.describe() == (
        "HTTPS_PROXY=http://proxy.corp:3128 (with a login), http_proxy=http://proxy.corp:8080"
    )
    assert described.no_proxy == "localhost,.internal"
    assert described.no_proxy_variable == "NO_PROXY"
    assert "s3cret" not in repr(described) and "alice" not in repr(described)
    assert tls.proxies({}).describe() == "none"
