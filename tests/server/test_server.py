"""Tests of hubmagic.server.HubServer against real SavedModels, over real sockets."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import socket
import struct
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from hubmagic.server import CHUNK_SIZE, HubServer, RequestRecord

TINY = "google/tiny/1"
GCS_PREFIX = "gs://team-bucket/tfhub-modules/"

MakeServer = Callable[..., HubServer]


# -- helpers ----------------------------------------------------------------------------


def get(server: HubServer, target: str, **kwargs: object) -> requests.Response:
    """GET ``target`` (path and query) from ``server``, not following redirects."""
    kwargs.setdefault("allow_redirects", False)
    kwargs.setdefault("timeout", 30)
    return requests.get(server.url + target, **kwargs)  # type: ignore[arg-type]


def raw_get(server: HubServer, target: str) -> tuple[int, dict[str, str], list[int], bytes]:
    """GETs ``target`` as sent (no client-side normalisation) and decodes chunks by hand.

    Returns:
        status, headers (lower-case names), the size of each chunk, the body.
    """
    port = urlsplit(server.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        stream = sock.makefile("rb")
        status = int(stream.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        sizes: list[int] = []
        body = io.BytesIO()
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size = int(stream.readline().split(b";")[0], 16)
                if size == 0:
                    assert stream.readline() == b"\r\n"
                    break
                sizes.append(size)
                body.write(stream.read(size))
                assert stream.readline() == b"\r\n"
        else:
            body.write(stream.read(int(headers.get("content-length", "0"))))
        stream.close()
    return status, headers, sizes, body.getvalue()


def folder_contents(folder: Path) -> dict[str, bytes | None]:
    """Maps each relative path under ``folder`` to its bytes (None for folders)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def archive_contents(data: bytes) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            assert member.isdir() or member.isfile(), member.name
            assert member.uid == member.gid == 0 and member.uname == member.gname == ""
            file = tar.extractfile(member)
            out[member.name] = None if file is None else file.read()
    return out


def write_fake_model(folder: Path, content: bytes = b"not really a graph") -> Path:
    """A folder the server takes for a SavedModel (it never parses saved_model.pb)."""
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(content)
    (folder / "variables" / "variables.index").write_bytes(b"index of " + content)
    return folder


@pytest.fixture(scope="module")
def other_root(tmp_path_factory: pytest.TempPathFactory, fake_models_dir: Path) -> Path:
    """A root with prebuilt archives, Kaggle layouts and symlinks (in and out of root)."""
    root = tmp_path_factory.mktemp("other_root")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(b"must never be served")
    write_fake_model(outside / "model")

    # Prebuilt archives: arbitrary bytes (served as-is, never parsed).
    (root / "pre" / "blob").mkdir(parents=True)
    (root / "pre" / "blob" / "1.tar.gz").write_bytes(bytes(range(256)) * 40)
    (root / "pre" / "blob" / "2.tar").write_bytes(b"plain tar bytes")
    write_fake_model(root / "pre" / "both" / "1", b"folder")
    (root / "pre" / "both" / "1.tgz").write_bytes(b"prebuilt wins")

    # Kaggle layouts: the first existing candidate wins.
    write_fake_model(root / "kag" / "mod" / "tensorflow2" / "var" / "1", b"fw-var-n")
    write_fake_model(root / "kag" / "mod" / "var" / "1", b"var-n")
    write_fake_model(root / "kag" / "mod" / "var" / "2", b"var-n-2")
    write_fake_model(root / "kag" / "mod" / "3", b"n")

    # Symlinks.
    (root / "links").mkdir()
    (root / "links" / "escape").symlink_to(outside / "model", target_is_directory=True)
    (root / "links" / "inside").symlink_to(root / "kag" / "mod" / "3", target_is_directory=True)
    (root / "links" / "escape.tar.gz").symlink_to(outside / "secret.txt")
    model = write_fake_model(root / "links" / "mixed" / "1", b"mixed")
    (model / "variables" / "stolen").symlink_to(outside / "secret.txt")
    (model / "variables" / "shared").symlink_to(root / "kag" / "mod" / "3" / "saved_model.pb")
    (model / "loop").symlink_to(model, target_is_directory=True)
    os.mkfifo(model / "a_fifo")
    return root


@pytest.fixture(scope="module")
def other_server(other_root: Path) -> Iterator[HubServer]:
    server = HubServer(other_root, gcs_prefix=GCS_PREFIX).start()
    yield server
    server.stop()


# -- listing, lifecycle -----------------------------------------------------------------


def test_models_lists_saved_models(fake_hub_server: HubServer) -> None:
    assert fake_hub_server.models() == ["google/big/1", "google/tiny/1", "google/tiny/2"]


def test_models_lists_prebuilt_and_inside_links(other_server: HubServer) -> None:
    assert other_server.models() == [
        "kag/mod/3",
        "kag/mod/tensorflow2/var/1",
        "kag/mod/var/1",
        "kag/mod/var/2",
        "links/inside",
        "links/mixed/1",
        "pre/blob/1",
        "pre/blob/2",
        "pre/both/1",
    ]


def test_url_has_the_real_port_and_stop_closes(tmp_path: Path) -> None:
    write_fake_model(tmp_path / "a" / "1")
    with HubServer(tmp_path) as server:
        port = urlsplit(server.url).port
        assert server.url == f"http://127.0.0.1:{port}" and port
        assert get(server, "/a/1?tf-hub-format=compressed").status_code == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    server.stop()  # idempotent


def test_not_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        HubServer(tmp_path / "missing")


# -- compressed archives ------------------------------------------------------------------


def test_compressed_archive_equals_folder(
    fake_hub_server: HubServer, fake_models_dir: Path
) -> None:
    response = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-gzip"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert archive_contents(response.content) == folder_contents(fake_models_dir / TINY)
    names = list(archive_contents(response.content))
    assert "saved_model.pb" in names and "variables/variables.index" in names
    assert "variables" in names  # directory entries are included
    assert names == sorted(names, key=lambda name: name.split("/"))


def test_compressed_archive_is_deterministic(fake_hub_server: HubServer) -> None:
    first = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed").content
    second = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed").content
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip mtime
    assert gzip.decompress(first)  # a single valid gzip stream


def test_big_archive_is_streamed_in_large_chunks(
    fake_hub_server: HubServer, fake_models_dir: Path
) -> None:
    status, headers, sizes, body = raw_get(
        fake_hub_server, "/google/big/1?tf-hub-format=compressed"
    )
    assert status == 200 and "content-length" not in headers
    assert len(sizes) > 10
    assert all(size >= CHUNK_SIZE for size in sizes[:-1])
    big = fake_models_dir / "google" / "big" / "1"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        member = tar.getmember("variables/variables.data-00000-of-00001")
        assert member.size >= 50_000_000
        data = tar.extractfile(member)
        assert data is not None
        expected = (big / "variables" / "variables.data-00000-of-00001").read_bytes()
        assert hashlib.sha256(data.read()).digest() == hashlib.sha256(expected).digest()


def test_head_of_generated_archive_has_no_body(fake_hub_server: HubServer) -> None:
    response = requests.head(fake_hub_server.url + f"/{TINY}?tf-hub-format=compressed", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-gzip"
    assert response.content == b""


def test_links_inside_root_are_followed_and_outside_left_out(other_server: HubServer) -> None:
    response = get(other_server, "/links/mixed/1?tf-hub-format=compressed")
    assert response.status_code == 200
    contents = archive_contents(response.content)
    assert contents["variables/shared"] == b"n"  # link to a file inside the root
    assert "variables/stolen" not in contents  # link to a file outside the root
    assert "a_fifo" not in contents  # special files are left out
    assert not any(name.startswith("loop") for name in contents)  # link loops are left out
    assert b"must never be served" not in zlib.decompress(response.content, 31)
    inside = get(other_server, "/links/inside?tf-hub-format=compressed")
    assert archive_contents(inside.content)["saved_model.pb"] == b"n"


def test_client_disconnect_mid_stream_is_quiet(
    fake_models_dir: Path, hub_server_factory: MakeServer, capfd: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    server = hub_server_factory(fake_models_dir, log=lines.append)
    port = urlsplit(server.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /google/big/1?tf-hub-format=compressed HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    deadline = time.monotonic() + 20
    while not any("disconnected" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("disconnected" in line for line in lines), lines
    assert get(server, f"/{TINY}?tf-hub-format=compressed").status_code == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


# -- tensorflow_hub ---------------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/google/tiny/1", [3.0, 5.0]),
        ("/google/tiny/2", [3.0, 6.0]),
        ("/models/google/tiny/frameworks/TensorFlow2/variations/tiny/versions/2", [3.0, 6.0]),
        ("/api/v1/models/google/tiny/tensorFlow2/tiny/1/download", [3.0, 5.0]),
    ],
)
def test_tensorflow_hub_loads_and_then_uses_its_cache(
    hub_server: HubServer, tfhub_cache_dir: Path, target: str, expected: list[float]
) -> None:
    tf = pytest.importorskip("tensorflow")
    hub = pytest.importorskip("tensorflow_hub")
    mark = hub_server.mark()
    model = hub.load(hub_server.url + target)
    assert model(tf.constant([1.0, 2.0])).numpy().tolist() == expected
    assert [r.status for r in hub_server.requests_since(mark)][-1] == 200
    assert any(tfhub_cache_dir.iterdir())

    mark = hub_server.mark()
    again = hub.load(hub_server.url + target)
    assert again(tf.constant([1.0, 2.0])).numpy().tolist() == expected
    assert hub_server.requests_since(mark) == ()


@pytest.mark.tf
def test_tensorflow_hub_reads_the_303_answer(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    pytest.importorskip("tensorflow")
    from tensorflow_hub.uncompressed_module_resolver import HttpUncompressedFileResolver

    server = hub_server_factory(fake_models_dir, gcs_prefix=GCS_PREFIX)
    location = HttpUncompressedFileResolver()._request_gcs_location(
        f"{server.url}/{TINY}?tf-hub-format=uncompressed"
    )
    assert location == f"gs://team-bucket/tfhub-modules/{TINY}"


# -- uncompressed, HTML page, formats -----------------------------------------------------


def test_uncompressed_is_303_without_location(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    server = hub_server_factory(fake_models_dir, gcs_prefix=GCS_PREFIX)
    response = get(server, f"/{TINY}?tf-hub-format=uncompressed")
    assert response.status_code == 303
    assert "Location" not in response.headers
    assert response.text == "gs://team-bucket/tfhub-modules/google/tiny/1"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_uncompressed_without_gcs_prefix_is_400(fake_hub_server: HubServer) -> None:
    response = get(fake_hub_server, f"/{TINY}?tf-hub-format=uncompressed")
    assert response.status_code == 400
    assert "--gcs-prefix" in response.text and "uncompressed" in response.text


def test_unknown_format_is_400(fake_hub_server: HubServer) -> None:
    assert get(fake_hub_server, f"/{TINY}?tf-hub-format=zip").status_code == 400


def test_html_page(fake_hub_server: HubServer) -> None:
    response = get(fake_hub_server, f"/{TINY}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>google/tiny/1</h1>" in response.text
    assert f"hub.load(&quot;{fake_hub_server.url}/{TINY}&quot;)" in response.text


# -- Kaggle and China mirror forms ---------------------------------------------------------


def test_kaggle_page_form(fake_hub_server: HubServer) -> None:
    direct = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed").content
    page = "/models/google/tiny/frameworks/TensorFlow2/variations/tiny/versions/1"
    assert get(fake_hub_server, page + "?tf-hub-format=compressed").content == direct
    assert get(fake_hub_server, page).headers["Content-Type"].startswith("text/html")


def test_kaggle_api_form_redirects_to_blob(fake_hub_server: HubServer) -> None:
    direct = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed").content
    mark = fake_hub_server.mark()
    api = "/api/v1/models/google/tiny/tensorFlow2/tiny/1/download"
    response = get(fake_hub_server, api)
    assert response.status_code == 302
    assert response.headers["Location"] == "/_blobs/google/tiny/1.tar.gz"
    followed = get(fake_hub_server, api, allow_redirects=True)
    assert followed.status_code == 200 and followed.content == direct
    assert [(r.path, r.status) for r in fake_hub_server.requests_since(mark)] == [
        (api, 302),
        (api, 302),
        ("/_blobs/google/tiny/1.tar.gz", 200),
    ]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/models/kag/mod/frameworks/tensorflow2/variations/var/versions/1", b"fw-var-n"),
        ("/models/kag/mod/frameworks/jax/variations/var/versions/1", b"var-n"),
        ("/models/kag/mod/frameworks/jax/variations/var/versions/2", b"var-n-2"),
        ("/models/kag/mod/frameworks/jax/variations/other/versions/3", b"n"),
        ("/api/v1/models/kag/mod/tensorflow2/var/1/download", b"fw-var-n"),
        ("/api/v1/models/kag/mod/jax/other/3/download", b"n"),
    ],
)
def test_kaggle_candidates_in_order(other_server: HubServer, target: str, expected: bytes) -> None:
    query = "" if target.startswith("/api/") else "?tf-hub-format=compressed"
    response = get(other_server, target + query, allow_redirects=True)
    assert response.status_code == 200
    assert archive_contents(response.content)["saved_model.pb"] == expected


def test_kaggle_forms_without_model_are_404(fake_hub_server: HubServer) -> None:
    for target in (
        "/models/google/nope/frameworks/tf/variations/v/versions/1",
        "/models/google/nope/frameworks/tf/variations/v/versions/1?tf-hub-format=compressed",
        "/api/v1/models/google/nope/tf/v/1/download",
        "/_blobs/google/nope/1.tar.gz",
    ):
        assert get(fake_hub_server, target).status_code == 404, target


def test_china_mirror_form(fake_hub_server: HubServer) -> None:
    direct = get(fake_hub_server, f"/{TINY}?tf-hub-format=compressed").content
    response = get(fake_hub_server, f"/tfhub-modules/{TINY}.tar.gz")
    assert response.status_code == 200 and response.content == direct
    assert get(fake_hub_server, f"/_blobs/{TINY}.tar.gz").content == direct


# -- prebuilt archives ----------------------------------------------------------------------


def test_prebuilt_archive_served_as_is(other_server: HubServer, other_root: Path) -> None:
    data = (other_root / "pre" / "blob" / "1.tar.gz").read_bytes()
    for target in (
        "/pre/blob/1?tf-hub-format=compressed",
        "/_blobs/pre/blob/1.tar.gz",
        "/tfhub-modules/pre/blob/1.tar.gz",
    ):
        response = get(other_server, target)
        assert response.status_code == 200, target
        assert response.content == data
        assert response.headers["Content-Length"] == str(len(data))
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["Content-Type"] == "application/x-gzip"
    tar = get(other_server, "/pre/blob/2?tf-hub-format=compressed")
    assert tar.content == b"plain tar bytes"
    assert tar.headers["Content-Type"] == "application/x-tar"
    assert get(other_server, "/pre/both/1?tf-hub-format=compressed").content == b"prebuilt wins"
    assert get(other_server, "/pre/blob/1").headers["Content-Type"].startswith("text/html")
    uncompressed = get(other_server, "/pre/blob/1?tf-hub-format=uncompressed")
    assert uncompressed.status_code == 303
    assert uncompressed.text == "gs://team-bucket/tfhub-modules/pre/blob/1"


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=10-", 10, 10239), ("bytes=10-19", 10, 19), ("bytes=-5", 10235, 10239)],
)
def test_prebuilt_range(other_server: HubServer, range_header: str, start: int, end: int) -> None:
    data = bytes(range(256)) * 40
    response = get(
        other_server, "/pre/blob/1?tf-hub-format=compressed", headers={"Range": range_header}
    )
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.content == data[start : end + 1]


def test_prebuilt_range_unsatisfiable(other_server: HubServer) -> None:
    response = get(
        other_server, "/pre/blob/1?tf-hub-format=compressed", headers={"Range": "bytes=10240-"}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */10240"


def test_prebuilt_head(other_server: HubServer) -> None:
    response = requests.head(
        other_server.url + "/pre/blob/1?tf-hub-format=compressed",
        headers={"Range": "bytes=0-99"},
        timeout=30,
    )
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "100"
    assert response.content == b""


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../etc/passwd",
        "/google/../google/tiny/1?tf-hub-format=compressed",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/google/tiny/1/%2e%2e/2?tf-hub-format=compressed",
        "/google%2f..%2fgoogle/tiny/1?tf-hub-format=compressed",
        "//google/tiny/1?tf-hub-format=compressed",
        "/google//tiny/1?tf-hub-format=compressed",
        "/google/tiny/1/?tf-hub-format=compressed",
        "/./google/tiny/1?tf-hub-format=compressed",
        "/google%5ctiny%5c1?tf-hub-format=compressed",
        "/google/tiny/1%00?tf-hub-format=compressed",
        "/google/tiny/%ff?tf-hub-format=compressed",
        "/_blobs/../google/tiny/1.tar.gz",
        "/tfhub-modules/google/tiny/../tiny/1.tar.gz",
        "/models/google/tiny/frameworks/x/variations/../versions/1?tf-hub-format=compressed",
        "/google/tiny/1/variables?tf-hub-format=compressed",
        "/google/tiny/1/saved_model.pb",
        "/google/tiny",
        "/",
        "/nothing/here",
    ],
)
def test_traversal_and_unknown_paths_are_404(fake_hub_server: HubServer, target: str) -> None:
    status, headers, _, body = raw_get(fake_hub_server, target)
    assert status == 404, target
    assert headers["content-type"].startswith("text/plain")
    assert len(body) < 200


@pytest.mark.parametrize(
    "target",
    [
        "/links/escape?tf-hub-format=compressed",
        "/links/escape",
        "/links/escape.tar.gz",
        "/links/escape/saved_model.pb",
        "/_blobs/links/escape.tar.gz",
        "/links/mixed/1/variables/stolen",
    ],
)
def test_symlinks_out_of_root_are_404(other_server: HubServer, target: str) -> None:
    status, _, _, body = raw_get(other_server, target)
    assert status == 404, target
    assert b"must never be served" not in body


def test_absolute_form_request_target(fake_hub_server: HubServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(fake_hub_server.url).port, timeout=30)
    try:
        conn.request("GET", f"{fake_hub_server.url}/{TINY}?tf-hub-format=uncompressed")
        assert conn.getresponse().status == 400
    finally:
        conn.close()


# -- request log ----------------------------------------------------------------------------


def test_request_log_and_marks(other_server: HubServer) -> None:
    mark = other_server.mark()
    get(other_server, "/pre/blob/1?tf-hub-format=compressed", headers={"Range": "bytes=0-9"})
    requests.head(other_server.url + "/nothing?a=1&b=", timeout=30)
    since = other_server.requests_since(mark)
    assert since == (
        RequestRecord(
            "GET", "/pre/blob/1", {"tf-hub-format": "compressed"}, "bytes=0-9", status=206
        ),
        RequestRecord("HEAD", "/nothing", {"a": "1", "b": ""}, None, status=404),
    )
    assert other_server.requests[-2:] == since
    assert other_server.requests_since(other_server.mark()) == ()


def test_log_callable_gets_one_line_per_request(
    fake_models_dir: Path, hub_server_factory: MakeServer
) -> None:
    lines: list[str] = []
    server = hub_server_factory(fake_models_dir, log=lines.append)
    get(server, f"/{TINY}?tf-hub-format=compressed")
    get(server, "/nothing")
    deadline = time.monotonic() + 5
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lines) == 2
    assert '"GET /google/tiny/1?tf-hub-format=compressed HTTP/1.1" 200' in lines[0]
    assert '"GET /nothing HTTP/1.1" 404' in lines[1]
