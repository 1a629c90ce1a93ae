"""Kaggle credentials: found where kagglehub looks, sent to the Kaggle API only, never shown.

A fake Kaggle API on 127.0.0.1 (``KAGGLE_API_ENDPOINT``) wants basic auth or a
bearer token and redirects to signed storage on a second host; a third server is a
``HUBMAGIC_ENDPOINT`` mirror. Every request each one gets is kept, headers and all.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hubmagic.core import config, kaggle_auth
from hubmagic.core.errors import AccessDeniedError, InvalidSettingError
from hubmagic.core.handle import parse
from hubmagic.core.progress import ProgressEvent
from hubmagic.core.resolver import resolve
from tests.fake_models import write_fake_saved_model

USERNAME = "kaggle-user-7"
KEY = "k3y-5ecret-0a1b2c3d4e5f"
TOKEN = "KGAT_t0ken-5ecret-9f8e7d6c"
SECRETS = (KEY, TOKEN, base64.b64encode(f"{USERNAME}:{KEY}".encode()).decode())
HANDLE = "https://www.kaggle.com/models/owner/gated/frameworks/tensorFlow2/variations/v/versions/1"
FAKE_COLAB = Path(__file__).resolve().parents[1] / "fake_colab"


@dataclass
class Server:
    """One fake host: answers with ``answer(path, headers)`` and keeps every request."""

    host: str
    answer: Any
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def do_GET(self) -> None:
                headers = dict(self.headers.items())
                owner.requests.append((self.path, headers))
                status, extra, body = owner.answer(self.path, headers)
                self.send_response(status)
                for name, value in {**extra, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}"

    def authorizations(self) -> list[str | None]:
        return [
            next((v for k, v in h.items() if k.lower() == "authorization"), None)
            for _, h in self.requests
        ]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Kaggle:
    api: Server
    storage: Server
    mirror: Server
    accepted: set[str]
    """The Authorization values the API takes."""


def _second_host() -> str:
    """Another host name for the storage: 127.0.0.2 where it can be bound (Linux)."""
    try:
        probe = ThreadingHTTPServer(("127.0.0.2", 0), BaseHTTPRequestHandler)
    except OSError:
        return "localhost"
    probe.server_close()
    return "127.0.0.2"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = write_fake_saved_model(tmp_path_factory.mktemp("kaggle") / "owner/gated/1")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _no_kaggle_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials of the machine running the tests: a fresh HOME, no Kaggle variables."""
    for name in (*config.KAGGLE_VARIABLES, config.COLAB_RELEASE_TAG):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
def kaggle(archive: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kaggle]:
    def storage_answer(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/octet-stream"}, archive

    storage = Server(_second_host(), storage_answer)
    mirror = Server("127.0.0.1", storage_answer)
    accepted: set[str] = set()

    def api_answer(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if headers.get("Authorization") not in accepted:
            return 401, {"Content-Type": "application/json"}, b'{"code": 401}'
        signed = f"{storage.url}/bucket/gated.tar.gz?X-Goog-Signature=abc123def"
        return 302, {"Location": signed}, b""

    api = Server("127.0.0.1", api_answer)
    monkeypatch.setenv(config.KAGGLE_API_ENDPOINT, api.url)
    yield Kaggle(api, storage, mirror, accepted)
    for server in (api, storage, mirror):
        server.stop()


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{USERNAME}:{KEY}".encode()).decode()


def _fetch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    """Resolves HANDLE into a new cache; returns (path, every text shown or kept)."""
    events: list[ProgressEvent] = []
    cache = tmp_path / "cache"
    path = resolve(HANDLE, cache_dir=str(cache), progress=events.append)
    texts = [repr(e) for e in events] + list(capsys.readouterr())
    for file in cache.rglob("*"):
        if file.is_file():
            texts.append(file.read_bytes().decode("latin-1"))
    return path, texts


def _assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def _assert_only_api_saw_auth(kaggle: Kaggle, expected: str) -> None:
    assert kaggle.api.authorizations() == [expected]
    assert kaggle.storage.requests, "the download was redirected to the storage host"
    assert kaggle.storage.authorizations() == [None] * len(kaggle.storage.requests)
    assert kaggle.mirror.requests == []


def _colab(monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str], denied: set[str]) -> None:
    """Colab, with the fake ``google.colab.userdata`` holding ``secrets``."""
    monkeypatch.setenv(config.COLAB_RELEASE_TAG, "release-colab_20261201-060000")
    monkeypatch.syspath_prepend(str(FAKE_COLAB))
    for name in [m for m in sys.modules if m == "google.colab" or m.startswith("google.colab.")]:
        monkeypatch.delitem(sys.modules, name)
    userdata = importlib.import_module("google.colab.userdata")
    assert str(userdata.__file__).startswith(str(FAKE_COLAB))
    monkeypatch.setattr(userdata, "SECRETS", dict(secrets))
    monkeypatch.setattr(userdata, "DENIED", set(denied))


def test_username_and_key_variables_go_as_basic_auth_to_the_api_only(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    kaggle.accepted.add(_basic())
    path, texts = _fetch(tmp_path, capsys)
    assert (Path(path) / "saved_model.pb").is_file()
    _assert_only_api_saw_auth(kaggle, _basic())
    assert kaggle.api.requests[0][0].startswith("/models/owner/gated/frameworks/")
    assert kaggle_auth.describe() == "from KAGGLE_USERNAME/KAGGLE_KEY"
    _assert_no_secret([*texts, kaggle_auth.describe(), repr(kaggle_auth.lookup())])


def test_kaggle_json_in_kaggle_config_dir(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "kaggle-config"
    folder.mkdir()
    (folder / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": KEY}))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(folder))
    kaggle.accepted.add(_basic())
    _, texts = _fetch(tmp_path, capsys)
    _assert_only_api_saw_auth(kaggle, _basic())
    assert kaggle_auth.describe() == "from $KAGGLE_CONFIG_DIR/kaggle.json"
    _assert_no_secret(texts)


def test_home_kaggle_json(tmp_path: Path) -> None:
    folder = Path(os.environ["HOME"]) / ".kaggle"
    folder.mkdir()
    (folder / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": KEY}))
    assert kaggle_auth.describe() == "from ~/.kaggle/kaggle.json"


@pytest.mark.parametrize("as_file", [False, True], ids=["value", "file"])
def test_kaggle_api_token_goes_as_bearer(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    as_file: bool,
) -> None:
    if as_file:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    else:
        monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone-else")  # the token comes first
    monkeypatch.setenv("KAGGLE_KEY", "other")
    kaggle.accepted.add(f"Bearer {TOKEN}")
    _, texts = _fetch(tmp_path, capsys)
    _assert_only_api_saw_auth(kaggle, f"Bearer {TOKEN}")
    expected = "the file KAGGLE_API_TOKEN names" if as_file else "KAGGLE_API_TOKEN"
    assert kaggle_auth.describe() == f"from {expected}"
    auth = kaggle_auth.auth_for(kaggle.api.url + "/x")
    from requests.auth import AuthBase

    assert isinstance(auth, AuthBase)
    _assert_no_secret([*texts, repr(auth), str(auth), repr(kaggle_auth.lookup())])


def test_home_access_token_file_comes_before_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(os.environ["HOME"]) / ".kaggle"
    folder.mkdir()
    (folder / "access_token").write_text(TOKEN)
    (folder / "kaggle.json").write_text(json.dumps({"username": USERNAME, "key": KEY}))
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    found = kaggle_auth.lookup()
    assert found is not None and found.token == TOKEN
    assert kaggle_auth.describe() == "from ~/.kaggle/access_token"
    (folder / "access_token").unlink()
    assert kaggle_auth.describe() == "from KAGGLE_USERNAME/KAGGLE_KEY"
    monkeypatch.delenv("KAGGLE_KEY")
    assert kaggle_auth.describe() == "from ~/.kaggle/kaggle.json"


@pytest.mark.parametrize(
    ("secrets", "denied", "expected"),
    [
        ({"KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY}, set(), "basic"),
        ({"KAGGLE_API_TOKEN": TOKEN + "\n"}, set(), "bearer"),
        (
            {"KAGGLE_USERNAME": USERNAME, "KAGGLE_KEY": KEY, "KAGGLE_API_TOKEN": "x"},
            {"KAGGLE_API_TOKEN"},
            "basic",
        ),
    ],
    ids=["username-key", "token", "token-not-granted"],
)
def test_colab_secrets(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    secrets: dict[str, str],
    denied: set[str],
    expected: str,
) -> None:
    _colab(monkeypatch, secrets, denied)
    header = _basic() if expected == "basic" else f"Bearer {TOKEN}"
    kaggle.accepted.add(header)
    _, texts = _fetch(tmp_path, capsys)
    _assert_only_api_saw_auth(kaggle, header)
    names = (
        "secrets KAGGLE_USERNAME/KAGGLE_KEY" if expected == "basic" else "secret KAGGLE_API_TOKEN"
    )
    assert kaggle_auth.describe() == f"from the Colab {names}"
    _assert_no_secret(texts)


def test_a_mirror_wins_and_never_gets_credentials(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", kaggle.mirror.url)
    _, texts = _fetch(tmp_path, capsys)
    assert kaggle.api.requests == []
    assert kaggle.mirror.requests and kaggle.mirror.authorizations() == [None]
    _assert_no_secret(texts)


def test_no_credentials_says_where_it_looked_and_what_to_do(
    kaggle: Kaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _colab(monkeypatch, {}, set())
    with pytest.raises(AccessDeniedError) as caught:
        resolve(HANDLE, cache_dir=str(tmp_path / "cache"))
    assert kaggle.api.authorizations() == [None]
    assert kaggle.storage.requests == []
    message, fix = caught.value.describe("magic")
    asked = f"{kaggle.api.url}/models/owner/gated/frameworks/tensorFlow2/variations/v/versions/1"
    assert message == f"{asked}?tf-hub-format=compressed refused access (HTTP 401 Unauthorized)."
    assert fix is not None
    assert "\n" not in message and "\n" not in fix
    for source in (
        "KAGGLE_API_TOKEN",
        "~/.kaggle/access_token",
        "KAGGLE_USERNAME/KAGGLE_KEY",
        "~/.kaggle/kaggle.json",
        "Colab secrets",
    ):
        assert source in fix
    assert "kaggle.json" in fix and "license accepted" in fix
    assert "https://www.kaggle.com/models/owner/gated" in fix
    assert kaggle_auth.describe() == "none found (public models need none)"


def test_refused_credentials_name_their_source_never_their_value(
    kaggle: Kaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)  # not in kaggle.accepted: refused
    with pytest.raises(AccessDeniedError) as caught:
        resolve(HANDLE, cache_dir=str(tmp_path / "cache"))
    text = str(caught.value)
    assert "credentials from KAGGLE_USERNAME/KAGGLE_KEY" in text and "license" in text
    _assert_no_secret([text, repr(caught.value)])


def test_credentials_go_to_the_kaggle_api_origin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    assert kaggle_auth.auth_for("https://www.kaggle.com/api/v1/models/o/m/tf/v/1/download")
    for url in (
        "http://www.kaggle.com/models/o/m",  # not https
        "https://www.kaggle.com:8443/models/o/m",
        "https://kaggle.com.example.org/models/o/m",
        "https://tfhub.dev/google/x/1",
        "https://storage.googleapis.com/b/o?X-Goog-Signature=1",
    ):
        assert kaggle_auth.auth_for(url) is None, url
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "http://127.0.0.1:7777/api/v1/")
    assert kaggle_auth.auth_for("http://127.0.0.1:7777/models/o/m")
    assert kaggle_auth.auth_for("https://www.kaggle.com/models/o/m") is None


def test_handles_go_to_the_kaggle_api_endpoint_unless_a_mirror_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = "https://www.kaggle.com/api/v1/models/o/m/tensorFlow2/v/1/download"
    assert parse("https://kaggle.com/api/v1/models/o/m/tensorFlow2/v/1/download").download_url == (
        api + "?tf-hub-format=compressed"
    )
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "http://127.0.0.1:7777")
    h = parse(HANDLE)
    assert h.download_url is not None and h.download_url.startswith("http://127.0.0.1:7777/models/")
    assert h.cache_key == parse(HANDLE, endpoint="http://mirror:1").cache_key  # sha1 of HANDLE
    assert parse(HANDLE, endpoint="http://mirror:1").download_url.startswith("http://mirror:1/")  # type: ignore[union-attr]
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "ftp://x")
    with pytest.raises(InvalidSettingError, match="KAGGLE_API_ENDPOINT"):
        parse(HANDLE)
    assert parse("https://tfhub.dev/google/x/1").download_url.startswith("https://tfhub.dev/")  # type: ignore[union-attr]


def test_an_unusable_kaggle_json_is_named_never_shown() -> None:
    folder = Path(os.environ["HOME"]) / ".kaggle"
    folder.mkdir()
    (folder / "kaggle.json").write_text(json.dumps({"username": USERNAME, "kee": KEY}))
    with pytest.raises(InvalidSettingError) as caught:
        kaggle_auth.lookup()
    assert 'has no "key"' in caught.value.message
    assert kaggle_auth.describe().startswith(
        "unusable: The Kaggle credentials file ~/.kaggle/kaggle.json"
    )
    _assert_no_secret([str(caught.value), kaggle_auth.describe()])


@pytest.mark.parametrize("accepted", [True, False], ids=["fetched", "refused"])
def test_the_cli_never_shows_a_credential(
    kaggle: Kaggle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    accepted: bool,
) -> None:
    from hubmagic.cli import main

    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    if accepted:
        kaggle.accepted.add(_basic())
    cache = tmp_path / "cache"
    texts: list[str] = []
    for extra in ([], ["--json"]):
        code = main(["fetch", HANDLE, "--cache", str(cache), *extra])
        assert (code == 0) is accepted
        texts += capsys.readouterr()
    joined = "\n".join(texts)
    if not accepted:
        assert "credentials from KAGGLE_USERNAME/KAGGLE_KEY" in joined
    texts += [f.read_bytes().decode("latin-1") for f in cache.rglob("*") if f.is_file()]
    _assert_no_secret(texts)
    assert kaggle.storage.authorizations() == [None] * len(kaggle.storage.requests)


def test_a_kaggle_notebooks_token_file_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "v1-token"
    token_file.write_text(TOKEN)
    monkeypatch.setenv("KAGGLE_API_V1_TOKEN", str(token_file))
    monkeypatch.setenv("KAGGLE_API_TOKEN", "other")
    assert kaggle_auth.describe() == "from KAGGLE_API_TOKEN"  # not in a Kaggle notebook
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setenv("KAGGLE_DATA_PROXY_URL", "http://127.0.0.1:1")
    found = kaggle_auth.lookup()
    assert found is not None and found.token == TOKEN
    assert kaggle_auth.describe().startswith("from KAGGLE_API_V1_TOKEN")
