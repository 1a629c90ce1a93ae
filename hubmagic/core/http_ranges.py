"""HTTP byte ranges of one archive, for :class:`~hubmagic.core.ranged.RangedDownload`.

After the redirects of the first request, ranges go straight to where they led
(tfhub.dev and Kaggle end at a signed storage URL), each connection a
keep-alive ``requests`` session of its own. Each answer is checked before its
bytes are used: a 206 whose ``Content-Range`` is exactly the range asked for,
and the same ``ETag`` / ``Last-Modified`` as the first answer (also sent as
``If-Range``, so a changed file answers 200). What fails is sorted into the
:mod:`~hubmagic.core.ranged` kinds; an expired signature (Kaggle's V4 URLs
expire: tensorflow/hub#931, #889) is renewed by asking the handle's URL again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hubmagic.core import config, kaggle_auth, tls
from hubmagic.core.http import (
    is_timeout,
    new_session,
    short_error,
    ssl_errors,
    status_error,
    transient_errors,
)
from hubmagic.core.range_kinds import (
    THROTTLE_STATUSES,
    TRANSIENT_STATUSES,
    Expired,
    RangesUnusable,
    Throttled,
    Transient,
)
from hubmagic.core.redact import redact
from hubmagic.core.units import plural

EXPIRED_MARKERS = (
    "expiredtoken",
    "signaturedoesnotmatch",
    "request has expired",
    "token has expired",
)
"""What Cloud Storage / S3 put in the body of a 400 / 403 for a signed URL past its time."""
_READ = 256 * 1024


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form counts as unknown)."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


class HttpRanges:
    """The ranges of ``url`` once its redirects led to ``target``.

    Args:
        url: the handle's download URL (asked again for a fresh redirect).
        target: where its redirects led (perhaps signed).
        total: the archive's size.
        validator: the first answer's ``ETag`` or ``Last-Modified`` (or ``None``).
    """

    def __init__(self, url: str, target: str, *, total: int, validator: str | None) -> None:
        self.url = url
        self._target = target
        self._total = total
        self._validator = validator
        self._lock = threading.Lock()
        self.generation = 0

    @property
    def target(self) -> str:
        with self._lock:
            return self._target

    def connect(self) -> HttpRangeReader:
        return HttpRangeReader(self)

    def refresh(self, seen: int) -> None:
        """Asks ``url`` again for a fresh redirect (once for all connections since ``seen``)."""
        with self._lock:
            if self.generation != seen:
                return
            session = new_session()
            failed: str | None = None
            certificate: str | None = None
            try:
                response = session.get(
                    self.url,
                    headers={"Range": "bytes=0-0", "Accept-Encoding": "identity"},
                    stream=True,
                    timeout=config.timeouts(),
                    auth=kaggle_auth.auth_for(self.url),
                )
            except ssl_errors() as exc:  # never retried: it would fail the same way
                certificate = redact(str(exc))
            except transient_errors() as exc:
                failed = short_error(exc)
            finally:
                session.close()
            if certificate is not None:
                raise tls.certificate_error(self.url, certificate)
            if failed is not None:
                raise Transient(f"asking for a fresh download link failed: {failed}")
            response.close()
            if response.status_code not in (200, 206):
                raise status_error(self.url, response.status_code, response.reason or "")
            validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
            if self._validator and validator and validator != self._validator:
                raise RangesUnusable(
                    "the file changed on the server while it downloaded", url=self.url
                )
            self._target = str(response.url)
            self.generation += 1

    def check_answer(self, response: Any, start: int, end: int) -> None:
        """Raises unless ``response`` is exactly bytes ``start``..``end`` of the same file."""
        if response.status_code == 200:
            raise RangesUnusable(
                "the server answered a range request with the whole file (it ignored Range, "
                "or the file changed)",
                url=self.url,
            )
        expected = f"bytes {start}-{end}/{self._total}"
        got = response.headers.get("Content-Range", "")
        if got.replace(" ", "") != expected.replace(" ", ""):
            raise RangesUnusable(
                f"asked for {expected}, the server sent {got or 'no Content-Range'}", url=self.url
            )
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        if self._validator and validator and validator != self._validator:
            raise RangesUnusable("the file changed on the server while it downloaded", url=self.url)


class HttpRangeReader:
    """One keep-alive connection fetching ranges."""

    def __init__(self, ranges: HttpRanges) -> None:
        self._ranges = ranges
        self._session = new_session()

    def close(self) -> None:
        self._session.close()

    def read_range(
        self,
        start: int,
        into: memoryview,
        on_bytes: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        end = start + len(into) - 1
        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        if self._ranges._validator:
            headers["If-Range"] = self._ranges._validator
        failed: str | None = None
        certificate: str | None = None
        target = self._ranges.target
        try:
            response = self._session.get(
                target,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=config.timeouts(),
            )
        except ssl_errors() as exc:  # never retried: it would fail the same way
            certificate = redact(str(exc))
        except transient_errors() as exc:
            failed = _failure("connection failed", exc)
        if certificate is not None:
            raise tls.certificate_error(target, certificate)
        if failed is not None:  # outside the except: no chained requests error (signed URL)
            raise Transient(failed)
        try:
            self._classify(response, start, end)
            self._read_body(response, start, into, on_bytes, stop)
        finally:
            response.close()

    def _classify(self, response: Any, start: int, end: int) -> None:
        status = response.status_code
        if status in (200, 206):
            self._ranges.check_answer(response, start, end)
            return
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in THROTTLE_STATUSES:
            raise Throttled(reason, retry_after(response.headers.get("Retry-After")))
        if status in TRANSIENT_STATUSES:
            raise Transient(reason)
        if status in (400, 401, 403):
            body = response.raw.read(4096, decode_content=True) or b""
            text = body.decode("utf-8", "replace").lower()
            if any(marker in text for marker in EXPIRED_MARKERS):
                raise Expired(f"the download link expired ({reason})")
        if status == 416:
            raise RangesUnusable(
                f"the server has fewer bytes than the {self._ranges._total} it announced "
                f"(HTTP 416 for bytes {start}-{end})",
                url=self._ranges.url,
            )
        raise status_error(self._ranges.url, status, response.reason or "")

    def _read_body(
        self,
        response: Any,
        start: int,
        into: memoryview,
        on_bytes: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        got = 0
        raw = response.raw
        while got < len(into):
            if stop.is_set():
                return
            failed: str | None = None
            try:
                # read1: whatever has arrived, so a reset loses nothing received.
                data = raw.read1(min(_READ, len(into) - got))
            except transient_errors() as exc:
                failed = _failure(f"connection lost at byte {start + got}", exc)
            if failed is not None:
                raise Transient(failed)
            n = len(data)
            if not n:
                raise Transient(
                    f"connection closed after {plural(got, 'byte')} of a range of {len(into)}"
                )
            into[got : got + n] = data
            got += n
            on_bytes(n)
        # The whole body was read: the connection goes back to the pool for the next range.
        raw.release_conn()


def _failure(what: str, exc: BaseException) -> str:
    if is_timeout(exc):
        return "waiting for the server (read timed out)"
    return f"{what}: {short_error(exc)}"
