"""tools/range_server.py: the hub + signed storage stand-in, its caps and its scripted faults."""

from __future__ import annotations

import base64
import hashlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import google_crc32c
import pytest
import requests

from tools.range_server import Faults, RangeServer

SIZE = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("range") / "model.tar.gz"
    path.write_bytes(random.Random(0).randbytes(SIZE))
    return path


@pytest.fixture(scope="module")
def data(archive: Path) -> bytes:
    return archive.read_bytes()


@pytest.fixture
def server(archive: Path) -> Iterator[RangeServer]:
    with RangeServer(archive) as running:
        yield running


def _signed(server: RangeServer) -> str:
    answer = requests.get(server.handle_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return answer.headers["Location"]


def _raw(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, str]:
    """GET with a bare socket until EOF or error: (status, headers, body, how it ended)."""
    parts = urlsplit(url)
    lines = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    lines.append("Connection: close")  # the server closes after its answer: read to EOF
    received = b""
    ended = "eof"
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            try:
                piece = sock.recv(1 << 16)
            except ConnectionResetError:
                ended = "reset"
                break
            if not piece:
                break
            received += piece
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    parsed = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), parsed, body, ended


def test_the_handle_redirects_to_a_fresh_signed_storage_url(server: RangeServer) -> None:
    first, second = _signed(server), _signed(server)
    assert first.startswith(f"{server.url}{server.storage_path}?")
    assert server.storage_path == "/storage/google_big_1.tar.gz"
    query = parse_qs(urlsplit(first).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Credential"][0].startswith("bench@example.iam.gserviceaccount.com/")
    assert "bench%40example.iam.gserviceaccount.com%2F" in first
    assert query["X-Goog-Expires"] == ["600"]
    assert parse_qs(urlsplit(second).query)["X-Goog-Signature"] != query["X-Goog-Signature"]
    compressed = requests.get(
        server.handle_url + "?tf-hub-format=compressed", allow_redirects=False, timeout=10
    )
    assert compressed.status_code == 302
    assert server.redirects == 3
    assert [r.status for r in server.log] == [302, 302, 302]
    assert all(r.number == 0 for r in server.log)


def test_an_unknown_signature_is_refused(server: RangeServer) -> None:
    url = _signed(server)
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    answer = requests.get(forged, timeout=10)
    assert answer.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert requests.get(server.url + server.storage_path, timeout=10).status_code == 403
    assert requests.get(url, timeout=10).status_code == 200


def test_ranges_get_206_with_the_gcs_headers(server: RangeServer, data: bytes) -> None:
    url = _signed(server)
    with requests.Session() as session:
        part = session.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
        assert part.status_code == 206
        assert part.content == data[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{SIZE}"
        assert part.headers["Content-Length"] == "10"
        assert part.headers["Accept-Ranges"] == "bytes"
        assert part.headers["ETag"].startswith('"')
        assert part.headers["Last-Modified"].endswith("GMT")
        assert part.headers["Content-Type"] == "application/octet-stream"
        tail = session.get(url, headers={"Range": f"bytes={SIZE - 100}-"}, timeout=10)
        assert tail.status_code == 206
        assert tail.content == data[-100:]
        past = session.get(url, headers={"Range": "bytes=0-99999999"}, timeout=10)
        assert past.headers["Content-Range"] == f"bytes 0-{SIZE - 1}/{SIZE}"
        assert past.content == data
        bad = session.get(url, headers={"Range": f"bytes={SIZE}-"}, timeout=10)
        assert bad.status_code == 416
        assert bad.headers["Content-Range"] == f"bytes */{SIZE}"
        whole = session.get(url, timeout=10)
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["Content-Length"] == str(SIZE)
        etag = whole.headers["ETag"]
        same = session.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=10)
        assert same.status_code == 206
        other = session.get(url, headers={"Range": "bytes=0-9", "If-Range": '"x"'}, timeout=10)
        assert other.status_code == 200
        assert other.content == data
    storage = server.storage_requests()
    assert [r.number for r in storage] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.status for r in storage] == [206, 206, 206, 416, 200, 206, 200]
    assert (storage[0].start, storage[0].end, storage[0].sent) == (10, 19, 10)
    assert storage[0].range == "bytes=10-19"
    assert storage[6].if_range == '"x"'
    assert storage[4].sent == SIZE
    assert len({r.connection for r in storage}) == 1  # one keep-alive connection
    assert server.connections_used() == 1
    assert (
        storage[0].query["X-Goog-Signature"] == parse_qs(urlsplit(url).query)["X-Goog-Signature"][0]
    )
    assert not storage[0].authorization
    times = [r.time for r in server.log]
    assert times == sorted(times)


def test_hashes_are_of_the_whole_file(archive: Path, data: bytes) -> None:
    crc = base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    with RangeServer(archive) as server:
        part = requests.get(server.handle_url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert part.headers["X-Goog-Hash"] == f"crc32c={crc},md5={md5}"
        server.faults.wrong_hash = True
        wrong = requests.get(server.handle_url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert "crc32c=" in wrong.headers["X-Goog-Hash"]
        assert crc not in wrong.headers["X-Goog-Hash"]
        assert md5 not in wrong.headers["X-Goog-Hash"]
        server.faults = Faults(content_md5_only=True)
        only_md5 = requests.get(server.handle_url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert only_md5.headers["Content-MD5"] == md5
        assert "X-Goog-Hash" not in only_md5.headers
        server.faults = Faults(no_hash=True)
        bare = requests.get(server.handle_url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert "X-Goog-Hash" not in bare.headers
        assert "Content-MD5" not in bare.headers
        authorized = requests.get(
            server.handle_url, headers={"Range": "bytes=0-9", "Authorization": "Bearer x"}
        )
        assert authorized.status_code == 206
        assert server.storage_requests()[-1].authorization


def test_a_reset_cuts_the_body_with_rst(archive: Path, data: bytes) -> None:
    with RangeServer(archive, faults=Faults(reset_after={2: 5000})) as server:
        assert _raw(_signed(server), {"Range": "bytes=0-99"})[0] == 206
        status, _, body, ended = _raw(_signed(server))
        assert status == 200
        assert ended == "reset"
        assert len(body) <= 5000
        assert body == data[: len(body)]
        assert server.storage_requests()[1].sent == 5000
        assert server.storage_requests()[1].status == 200


def test_ignore_range_and_no_ranges_answer_the_whole_file(archive: Path, data: bytes) -> None:
    with RangeServer(archive, faults=Faults(ignore_range_on={2})) as server:
        url = _signed(server)
        assert requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10).status_code == 206
        ignored = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert ignored.status_code == 200
        assert ignored.content == data
    with RangeServer(archive, ranges=False, redirect=False) as server:
        plain = requests.get(server.handle_url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert plain.status_code == 200
        assert "Accept-Ranges" not in plain.headers
        assert plain.content == data
        assert server.redirects == 0
        assert [r.number for r in server.storage_requests()] == [1]


def test_the_etag_changes_after_n_requests(archive: Path, data: bytes) -> None:
    with RangeServer(archive, faults=Faults(etag_change_after=1)) as server:
        url = _signed(server)
        first = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)
        headers = {"Range": "bytes=0-9", "If-Range": first.headers["ETag"]}
        second = requests.get(url, headers=headers, timeout=10)
        assert second.status_code == 200
        assert second.content == data
        assert second.headers["ETag"] != first.headers["ETag"]
        assert second.headers["Last-Modified"] != first.headers["Last-Modified"]
        headers["If-Range"] = second.headers["ETag"]
        assert requests.get(url, headers=headers, timeout=10).status_code == 206


def test_throttling_answers_retry_after(archive: Path) -> None:
    faults = Faults(throttle={1: 1.0, 3: 0.5})
    with RangeServer(archive, faults=faults) as server:
        url = _signed(server)
        first = requests.get(url, timeout=10)
        assert first.status_code == 429
        assert first.headers["Retry-After"] == "1"
        assert requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code == 206
        server.faults.throttle_status = 503
        third = requests.get(url, timeout=10)
        assert third.status_code == 503
        assert third.headers["Retry-After"] == "0.5"
        assert [r.status for r in server.storage_requests()] == [429, 206, 503]


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ExpiredToken"), (403, "SignatureDoesNotMatch")]
)
def test_signed_urls_expire(archive: Path, status: int, code: str) -> None:
    faults = Faults(signature_ttl=0.3, expired_status=status, expired_code=code)
    with RangeServer(archive, faults=faults) as server:
        url = _signed(server)
        assert requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code == 206
        time.sleep(0.4)
        expired = requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10)
        assert expired.status_code == status
        assert f"<Code>{code}</Code>" in expired.text
        assert "Request has expired" in expired.text
        fresh = requests.get(server.handle_url, headers={"Range": "bytes=0-0"}, timeout=10)
        assert fresh.status_code == 206


def test_a_lying_length(archive: Path, data: bytes) -> None:
    with RangeServer(archive, faults=Faults(length_delta=1000)) as server:
        status, headers, body, ended = _raw(_signed(server))
        assert (status, ended) == (200, "eof")
        assert headers["content-length"] == str(SIZE + 1000)
        assert body == data  # the real bytes, then the connection closes
        status, headers, body, _ = _raw(_signed(server), {"Range": "bytes=5-9"})
        assert status == 206
        assert headers["content-range"] == f"bytes 5-9/{SIZE + 1000}"
        assert body == data[5:10]


def test_a_stall_sends_k_bytes_then_waits_then_closes(archive: Path, data: bytes) -> None:
    with RangeServer(archive, faults=Faults(stall_after={1: (2000, 0.5)})) as server:
        url = _signed(server)
        began = time.monotonic()
        status, _, body, ended = _raw(url)
        assert time.monotonic() - began >= 0.45
        assert (status, ended, body) == (200, "eof", data[:2000])
        assert server.storage_requests()[0].sent == 2000


def test_the_per_connection_cap_holds(archive: Path, data: bytes) -> None:
    with RangeServer(archive, per_connection_rate=4e6) as server:
        began = time.monotonic()
        answer = requests.get(server.handle_url, headers={"Range": "bytes=0-1999999"}, timeout=10)
        seconds = time.monotonic() - began
        assert answer.content == data[:2_000_000]
    assert 0.4 <= seconds < 1.0


def test_the_link_cap_is_shared(archive: Path) -> None:
    with RangeServer(archive, link_rate=4e6) as server:
        urls = [_signed(server) for _ in range(2)]
        got: list[int] = []

        def fetch(first: int) -> None:
            rng = {"Range": f"bytes={first}-{first + 999_999}"}
            got.append(len(requests.get(urls[first // 1_000_000], headers=rng, timeout=10).content))

        threads = [threading.Thread(target=fetch, args=(n * 1_000_000,)) for n in range(2)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - began
        assert got == [1_000_000, 1_000_000]
        assert server.connections_used() == 2
    assert 0.4 <= seconds < 1.0


def test_head_answers_headers_only(server: RangeServer) -> None:
    answer = requests.head(_signed(server), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Length"] == str(SIZE)
    assert server.storage_requests()[0].method == "HEAD"
    assert server.connections_used() == 0
