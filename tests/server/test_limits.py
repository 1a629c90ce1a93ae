"""HubServer under abuse: the connection limit, idle timeouts, quick stops, clean logs."""

from __future__ import annotations

import math
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hubmagic.server import HubServer

TINY = "google/tiny/1"

MakeServer = Callable[..., HubServer]


def _port(server: HubServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


@contextmanager
def _connection(server: HubServer, timeout: float = 30) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=timeout) as sock:
        yield sock


def _ask(sock: socket.socket, target: str = f"/{TINY}", *, close: bool = False) -> bytes:
    """Sends a GET on ``sock`` and reads one whole answer (Content-Length bodies only)."""
    extra = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                more = sock.recv(65536)
                if not more:
                    break
                body += more
    return head + b"\r\n\r\n" + body


def _closed_within(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes ``sock`` within ``timeout`` seconds (data read is dropped)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if not sock.recv(65536):
                    return True
            except ConnectionError:
                return True
    return False


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- the connection limit ---------------------------------------------------------------


def test_connections_past_the_limit_get_503_and_the_others_are_served(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    lines: list[str] = []
    server = hub_server_factory(fake_models_dir, max_connections=2, log=lines.append)
    with _connection(server) as first, _connection(server) as second:
        # Both hold a slot once answered (keep-alive).
        assert _status(_ask(first)) == 200
        assert _status(_ask(second)) == 200
        for _ in range(3):
            with _connection(server) as extra:
                answer = _ask(extra)
                assert _status(answer) == 503, answer
                assert b"\r\nRetry-After: 1\r\n" in answer
                assert b"2 connections open" in answer
                assert _closed_within(extra, 30)
        # The two connections in their slots are still served.
        assert _status(_ask(first)) == 200
        assert _status(_ask(second, f"/{TINY}?tf-hub-format=compressed", close=True)) == 200
    assert sum(" 503 " in line and "refused" in line for line in lines) == 3, lines
    # Their slots are free again once they are closed.
    deadline = time.monotonic() + 30
    while True:
        with _connection(server) as again:
            if _status(_ask(again)) == 200:
                break
        assert time.monotonic() < deadline, "a slot was not freed within 30 s"


def test_a_flood_of_connections_leaves_the_server_serving(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    server = hub_server_factory(fake_models_dir, max_connections=2)
    statuses: list[int] = []
    socks = [socket.create_connection(("127.0.0.1", _port(server)), timeout=30) for _ in range(40)]
    try:
        for sock in socks:
            try:
                sock.sendall(f"GET /{TINY} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                answer = _ask_nothing_more(sock)
            except ConnectionError:
                answer = b""
            statuses.append(_status(answer) if answer else 0)
    finally:
        for sock in socks:
            sock.close()
    # 2 served, at least 8 told to come back (the refusal slots), the rest closed.
    assert statuses[:2] == [200, 200], statuses
    assert statuses.count(503) >= 8 and set(statuses[2:]) <= {503, 0}, statuses
    deadline = time.monotonic() + 30
    while True:
        with _connection(server) as again:
            if _status(_ask(again)) == 200:
                break
        assert time.monotonic() < deadline, "the server did not serve again within 30 s"


def _ask_nothing_more(sock: socket.socket) -> bytes:
    """Reads the head of the answer to a request already sent (b"" if closed first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


def test_a_refused_client_that_sends_nothing_is_closed(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    server = hub_server_factory(fake_models_dir, max_connections=1, idle_timeout=1)
    with _connection(server) as held, _connection(server) as silent:
        assert _status(_ask(held)) == 200
        assert _closed_within(silent, 30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_connections": 0}, "max_connections must be 1 or more, not 0"),
        ({"max_connections": 2.5}, "max_connections must be a whole number"),
        ({"max_connections": True}, "max_connections must be a whole number"),
        ({"idle_timeout": 0}, "idle_timeout must be more than 0 seconds"),
        ({"idle_timeout": -1.5}, "idle_timeout must be more than 0 seconds"),
        ({"idle_timeout": math.nan}, "idle_timeout must be a number of seconds"),
        ({"idle_timeout": math.inf}, "idle_timeout must be a number of seconds"),
        ({"idle_timeout": "5"}, "idle_timeout must be a number of seconds"),
    ],
)
def test_bad_limits_are_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HubServer(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_limits_have_stated_defaults(tmp_path: Path) -> None:
    server = HubServer(tmp_path)
    assert (server.max_connections, server.idle_timeout) == (64, 60.0)


# -- idle connections -------------------------------------------------------------------


def test_idle_connections_are_closed(fake_models_dir: Path, hub_server_factory: MakeServer) -> None:
    server = hub_server_factory(fake_models_dir, idle_timeout=0.5)
    with _connection(server) as silent, _connection(server) as kept:
        assert _status(_ask(kept)) == 200
        assert _closed_within(silent, 30)  # never sent a request
        assert _closed_within(kept, 30)  # kept alive after one
    with _connection(server) as sock:  # the server itself is fine
        assert _status(_ask(sock)) == 200


def test_a_trickled_request_head_is_cut(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    server = hub_server_factory(fake_models_dir, idle_timeout=1)
    with _connection(server) as sock:
        sock.sendall(b"GET /google/tiny/1 HTTP/1.1\r\n")
        started = time.monotonic()
        cut = False
        # One header byte every 0.2 s: never idle for 1 s, yet the head never ends.
        while not cut and time.monotonic() - started < 60:
            try:
                sock.sendall(b"X")
            except ConnectionError:
                cut = True
            else:
                cut = _closed_within(sock, 0.2)
        assert cut, "a head trickled byte by byte kept its connection for 60 s"


def test_a_client_that_stops_reading_is_cut(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    lines: list[str] = []
    server = hub_server_factory(fake_models_dir, idle_timeout=1, log=lines.append)
    with _connection(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /google/big/1?tf-hub-format=compressed HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 60
        while not any("took nothing for 1 s" in line for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
    line = next(line for line in lines if "took nothing" in line)
    assert '"GET /google/big/1?tf-hub-format=compressed HTTP/1.1" 200' in line


def test_stop_does_not_wait_for_idle_keep_alive_connections(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    server = hub_server_factory(fake_models_dir, idle_timeout=600)
    with _connection(server) as kept:
        assert _status(_ask(kept)) == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 30  # not the 600 s idle timeout
        assert _closed_within(kept, 30)


# -- secrets stay out of the log --------------------------------------------------------


def test_log_lines_redact_signed_urls_tokens_and_passwords(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    lines: list[str] = []
    server = hub_server_factory(fake_models_dir, log=lines.append)
    port = _port(server)
    targets = [
        f"/{TINY}?X-Goog-Signature=sig0secret&X-Goog-Credential=cred1secret"
        "&X-Goog-Date=20260101T000000Z&tf-hub-format=compressed",
        f"/{TINY}?GoogleAccessId=id2secret&Expires=1700000000&Signature=sig3secret",
        f"/{TINY}?token=tok4secret&key=key5secret&access_token=tok6secret",
        f"http://user:pw7secret@127.0.0.1:{port}/{TINY}",
        f"/{TINY}?X-Amz-Signature=sig8secret&X-Amz-Security-Token=tok9secret",
    ]
    for target in targets:
        with _connection(server) as sock:
            assert _status(_ask(sock, target, close=True)) == 200
    with _connection(server) as sock:  # answered by http.server itself: 400
        sock.sendall(b"GET /x?token=tok10secret BOGUS/9\r\n\r\n")
        assert _closed_within(sock, 30)
    deadline = time.monotonic() + 30
    while len(lines) < len(targets) + 1:
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    log = "\n".join(lines)
    assert "secret" not in log, log
    assert log.count("REDACTED") == 13, log
    assert log.count(' HTTP/1.1" 200 ') == len(targets), log
    assert "tf-hub-format=compressed" in log
    assert "X-Goog-Signature=REDACTED" in log
    assert "http://REDACTED@127.0.0.1" in log
    # The request records (not a log) keep what was asked for.
    assert any(r.query.get("token") == "tok4secret" for r in server.requests)
