"""HTTP for model archives: timeouts, retries, resume, and errors that say what to do.

tensorflow_hub sets no timeout at all (a stalled server hangs a notebook
forever) and prints nothing while it downloads (tensorflow/hub#25, #30, #283).
:class:`HttpArchiveStream` is a file object over a download that

- connects and reads with timeouts (``HUBMAGIC_CONNECT_TIMEOUT`` / ``_READ_TIMEOUT``);
- retries 429, 5xx, resets and timeouts with exponential backoff;
- when the connection drops mid-body, resumes with a ``Range`` request if the
  server supports it (``Accept-Ranges: bytes``), else starts over only if
  nothing was consumed yet;
- checks that as many bytes arrived as ``Content-Length`` announced;
- gives up when no byte has arrived for ``HUBMAGIC_STALL_TIMEOUT`` seconds over
  all attempts (a server that accepts and never answers would otherwise hold a
  download for retries x read timeout), saying in each RETRYING event that it
  is waiting for the server;
- reports bytes to a :class:`~hubmagic.progress.ProgressReporter`.

Errors never chain the ``requests`` exception they replace (``from None``):
its text embeds the URL, perhaps signed; the redacted gist is in the message.

``requests`` is imported here only, so ``import hubmagic`` stays light.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubmagic._version import __version__
from hubmagic.core import config
from hubmagic.core.errors import (
    AccessDeniedError,
    ArchiveError,
    DownloadError,
    Fix,
    HttpError,
    ModelNotFoundError,
    UncompressedNotSupportedError,
)
from hubmagic.core.progress import Phase, ProgressReporter
from hubmagic.core.redact import redact
from hubmagic.core.units import format_duration, plural

if TYPE_CHECKING:
    import requests

TRY_AGAIN = Fix("Check the network (or the mirror in HUBMAGIC_ENDPOINT) and try again.")
STALLED = Fix(
    "Try again later, or check the mirror in HUBMAGIC_ENDPOINT; to wait longer for a slow "
    "server, raise HUBMAGIC_STALL_TIMEOUT (seconds)."
)
WAITING = "waiting for the server"
"""How a RETRYING event after a timeout starts: the server accepted and is silent."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"hubmagic/{__version__} (+tensorflow_hub-compatible)"


def _requests() -> Any:
    import requests

    return requests


def transient_errors() -> tuple[type[BaseException], ...]:
    requests = _requests()
    import urllib3.exceptions

    return (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.ReadTimeoutError,
        ConnectionError,
        TimeoutError,
    )


def is_timeout(exc: BaseException) -> bool:
    requests = _requests()
    import urllib3.exceptions

    return isinstance(
        exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    ) and not isinstance(exc, requests.exceptions.ConnectTimeout)


def new_session() -> requests.Session:
    """A session with hubmagic's User-Agent and the certificate settings in force."""
    from hubmagic.core import tls

    session = _requests().Session()
    session.headers["User-Agent"] = USER_AGENT
    tls.configure(session)
    return session  # type: ignore[no-any-return]


def ssl_errors() -> tuple[type[BaseException], ...]:
    """A certificate failure: never retried (it would fail the same way)."""
    return (_requests().exceptions.SSLError,)


RESUMED_DIFFERENTLY = "the server sent different bytes on resume; downloading again from the start"
"""The RETRYING message when a resumed download does not extract (see the resolver)."""


def resumed_differently_error(url: str) -> ArchiveError:
    """A download whose resumed bytes did not fit, twice: the error, in users' terms."""
    return ArchiveError(
        f"The server sent different bytes on resume twice for {url}: the file may be changing "
        "on the server, or a proxy alters it.",
        fix=Fix(
            "Try again later; if it keeps happening, check the mirror in HUBMAGIC_ENDPOINT or "
            "the proxy between you and the server."
        ),
    )


def status_error(
    url: str, status: int, reason: str, *, answered_by: str | None = None
) -> HttpError | ModelNotFoundError:
    """The error for an HTTP status, in users' terms.

    ``answered_by`` is the URL that gave it, when redirects led elsewhere than
    ``url`` (a 403 from the storage host is not about Kaggle credentials).
    """
    if status in (404, 410):
        return ModelNotFoundError(
            f"No model at {url} (HTTP {status}).",
            fix=Fix(
                "Check the handle's spelling and version; on tfhub.dev / Kaggle open it in a "
                "browser to see that it exists."
            ),
        )
    if status in (401, 403):
        from hubmagic.core import kaggle_auth

        kaggle = kaggle_auth.denied_fix(answered_by or url)
        return AccessDeniedError(
            f"{url} refused access (HTTP {status} {reason}).",
            url=url,
            status=status,
            fix=kaggle
            or Fix(
                "The model may be private or need you to accept its license on its Kaggle "
                "page; a mirror set with HUBMAGIC_ENDPOINT may need credentials."
            ),
        )
    return HttpError(f"{url} answered HTTP {status} {reason}.", url=url, status=status)


class HttpArchiveStream(io.RawIOBase):
    """A read-once file object over an archive download, surviving dropped connections.

    Args:
        url: the archive's URL (redirects are followed).
        reporter: receives byte counts and RETRYING events.
        session: the ``requests`` session to use.
        retries: attempts after the first for one failure, before giving up
            (default ``HUBMAGIC_RETRIES``).
        backoff: first wait between attempts in seconds, doubled each time
            (default ``HUBMAGIC_RETRY_BACKOFF``).
    """

    def __init__(
        self,
        url: str,
        *,
        reporter: ProgressReporter,
        session: requests.Session | None = None,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self._reporter = reporter
        self._session = session or new_session()
        self._retries = config.retries() if retries is None else retries
        self._backoff = config.retry_backoff() if backoff is None else backoff
        self._timeout = config.timeouts()
        self._stall = config.stall_timeout()
        self._last_byte = time.monotonic()
        self._response: Any = None
        self._offset = 0
        self.total: int | None = None
        self._ranges = False
        self._validator: str | None = None
        self.resumed = 0
        self.final_url = url
        """Where the redirects led (a signed storage URL, perhaps): never shown unredacted."""
        self.headers: Mapping[str, str] = {}
        self.ranges = False
        """Whether the server said it serves byte ranges (``Accept-Ranges: bytes``)."""

    # -- opening ------------------------------------------------------------
    def open(self) -> HttpArchiveStream:
        """Sends the request (with retries) and checks the answer looks like an archive."""
        from hubmagic.core import tls

        note = tls.connecting_note(self.url)
        self._reporter.emit(Phase.CONNECTING, message=f"connecting to {self.url}{note}")
        self._response = self._request(None)
        headers = self._response.headers
        self.headers = headers
        self.final_url = str(self._response.url or self.url)
        if "gzip" not in headers.get("Content-Encoding", "identity"):
            length = headers.get("Content-Length")
            self.total = int(length) if length and length.isdigit() else None
        self._ranges = self.ranges = headers.get("Accept-Ranges", "").lower() == "bytes"
        self._validator = headers.get("ETag") or headers.get("Last-Modified")
        ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            self._response.close()
            raise ArchiveError(
                f"{self.url} answered with a web page, not a model archive (a login or proxy "
                "page gives this too).",
                fix=Fix(
                    "For tfhub.dev and Kaggle use the model's URL as the handle (hubmagic "
                    "adds ?tf-hub-format=compressed); other URLs must point at a .tar.gz of a "
                    "SavedModel."
                ),
            )
        self._reporter.total = self.total
        self._reporter.connections = 1
        return self

    def _request(self, start: int | None) -> Any:
        """GET (from ``start`` with a Range header), retrying transient failures."""
        headers = {"Accept-Encoding": "identity"}
        if start is not None:
            headers["Range"] = f"bytes={start}-"
            if self._validator:
                headers["If-Range"] = self._validator
        from hubmagic.core import kaggle_auth, tls

        auth = kaggle_auth.auth_for(self.url)
        attempt = 0
        while True:
            failed: str | None = None
            fatal = False
            certificate: str | None = None
            try:
                response = self._session.get(
                    self.url, headers=headers, stream=True, timeout=self._timeouts(), auth=auth
                )
            except ssl_errors() as exc:
                certificate = redact(str(exc))  # whole: tls picks the reason out of it
            except transient_errors() as exc:
                failed = self._failure("connection failed", exc)
            except _requests().RequestException as exc:
                failed, fatal = short_error(exc), True
            else:
                self._last_byte = time.monotonic()  # the server answered: not silent
            if certificate is not None:  # outside the except: not chained (signed URLs)
                raise tls.certificate_error(self.url, certificate)
            if failed is not None:
                # Outside the except: the error must not carry the requests one.
                if fatal:
                    raise DownloadError(f"Could not download {self.url}: {failed}", url=self.url)
                self._wait_before_retry(attempt, failed)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES:
                reason = f"HTTP {response.status_code} {response.reason}"
                response.close()
                retry_after = response.headers.get("Retry-After", "")
                delay = float(retry_after) if retry_after.isdigit() else None
                self._wait_before_retry(attempt, reason, delay)
                attempt += 1
                continue
            if start is not None and response.status_code == 200:
                return response  # the server ignored Range: the caller copes
            if response.status_code not in (200, 206):
                response.close()
                raise status_error(
                    self.url,
                    response.status_code,
                    response.reason or "",
                    answered_by=str(response.url or self.url),
                )
            return response

    def _timeouts(self) -> tuple[float, float]:
        """(connect, read) timeouts, the read one cut to what is left of the stall timeout."""
        connect, read = self._timeout
        left = self._stall - (time.monotonic() - self._last_byte)
        return connect, max(0.05, min(read, left))

    def _failure(self, what: str, exc: BaseException) -> str:
        """Why an attempt failed, in words (a timeout says how long the server was silent)."""
        if is_timeout(exc):
            quiet = time.monotonic() - self._last_byte
            return f"{WAITING} (no byte for {format_duration(quiet)})"
        return f"{what}: {short_error(exc)}"

    def _wait_before_retry(self, attempt: int, reason: str, delay: float | None = None) -> None:
        quiet = time.monotonic() - self._last_byte
        if quiet >= self._stall:
            last = "" if reason.startswith(WAITING) else f"; the last attempt: {reason}"
            raise DownloadError(
                f"The server sent nothing for {format_duration(quiet)} "
                f"({plural(attempt + 1, 'attempt')} to download {self.url}), past "
                f"HUBMAGIC_STALL_TIMEOUT ({self._stall:g} s){last}.",
                url=self.url,
                fix=STALLED,
            )
        if attempt >= self._retries:
            raise DownloadError(
                f"Could not download {self.url} after {plural(attempt + 1, 'attempt')}: {reason}.",
                url=self.url,
                fix=TRY_AGAIN,
            )
        wait = min(30.0, delay if delay is not None else self._backoff * (2**attempt))
        wait = max(0.0, min(wait, self._stall - quiet))
        self._reporter.retries += 1
        self._reporter.emit(
            Phase.RETRYING,
            message=f"{reason}; retrying in {wait:.1f} s (attempt {attempt + 2} of "
            f"{self._retries + 1})",
        )
        time.sleep(wait)

    # -- reading ------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        attempt = 0
        while True:
            lost: str | None = None
            try:
                # read1: whatever has arrived, so a timeout or a reset loses
                # nothing we received and the resume starts exactly there.
                data = self._response.raw.read1(len(buffer))
                n = len(data)
                buffer[:n] = data
            except transient_errors() as exc:
                lost = self._failure(f"connection lost after {plural(self._offset, 'byte')}", exc)
            if lost is not None:
                self._resume(attempt, lost)
                attempt += 1
                continue
            if n == 0 and self.total is not None and self._offset < self.total:
                self._resume(
                    attempt, f"connection closed after {self._offset} of {self.total} bytes"
                )
                attempt += 1
                continue
            self._offset += n
            if n:
                self._last_byte = time.monotonic()
                self._reporter.advance(n)
            return int(n)

    def _resume(self, attempt: int, reason: str) -> None:
        self._response.close()
        if not self._ranges:
            raise DownloadError(
                f"Download of {self.url} failed: {reason}, and the server cannot resume "
                "(no Accept-Ranges).",
                url=self.url,
                fix=TRY_AGAIN,
            )
        self._wait_before_retry(attempt, reason)
        response = self._request(self._offset)
        content_range = response.headers.get("Content-Range", "")
        if response.status_code != 206 or not content_range.startswith(f"bytes {self._offset}-"):
            response.close()
            raise DownloadError(
                f"Download of {self.url} failed: {reason}, and the server did not resume "
                f"from byte {self._offset} (answer: HTTP {response.status_code}"
                f"{' ' + content_range if content_range else ''}; the file may have changed).",
                url=self.url,
                fix=TRY_AGAIN,
            )
        self._response = response
        self.resumed += 1
        self._reporter.resumes += 1

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        super().close()


def short_error(exc: BaseException) -> str:
    """The gist of a ``requests`` / ``urllib3`` error, redacted (its text embeds the URL)."""
    text = redact(str(exc))
    return text if len(text) < 300 else text[:297] + "..."


def ask_uncompressed(url: str, *, session: requests.Session | None = None) -> str:
    """tensorflow_hub's uncompressed protocol: a 303 without Location, the body a gs:// path.

    Raises:
        UncompressedNotSupportedError: any other answer.
        DownloadError: the request failed.
    """
    from hubmagic.core import tls

    session = session or new_session()
    requests = _requests()
    failed: str | None = None
    certificate: str | None = None
    try:
        response = session.get(
            url,
            allow_redirects=False,
            timeout=config.timeouts(),
        )
    except ssl_errors() as exc:
        certificate = redact(str(exc))
    except requests.RequestException as exc:
        failed = short_error(exc)
    if certificate is not None:
        raise tls.certificate_error(url, certificate)
    if failed is not None:  # outside the except: not chained to the requests error
        raise DownloadError(f"Could not reach {url}: {failed}.", url=url, fix=TRY_AGAIN)
    body = response.text.strip()
    if response.status_code == 303 and body.startswith("gs://"):
        return str(body)
    if response.status_code in (404, 410):
        raise status_error(url, response.status_code, response.reason or "")
    detail = f"HTTP {response.status_code}"
    if response.status_code == 303:
        detail += f" whose body is not a gs:// path ({body[:80]!r})"
    raise UncompressedNotSupportedError(
        f"{url} answered {detail}, not tensorflow_hub's uncompressed protocol (303 See Other "
        "with a gs:// path): this server does not offer uncompressed models.",
        fix=Fix(
            "Use the compressed format instead (unset TFHUB_MODEL_LOAD_FORMAT or set it to "
            "COMPRESSED)."
        ),
    )
