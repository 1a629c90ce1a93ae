from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core import handle as handles
from hubmagic.core.errors import (
    InvalidHandleError,
    InvalidSettingError,
    ModelNotFoundError,
    NotASavedModelError,
)
from hubmagic.core.handle import HandleKind

KAGGLE_PAGE = (
    "https://www.kaggle.com/models/google/spice/frameworks/tensorFlow2/variations/spice/versions/2"
)
KAGGLE_API = "https://www.kaggle.com/api/v1/models/google/spice/tensorFlow2/spice/2/download"


@pytest.mark.parametrize(
    ("raw", "kind", "download", "uncompressed"),
    [
        (
            "https://tfhub.dev/google/spice/2",
            HandleKind.TFHUB,
            "https://tfhub.dev/google/spice/2?tf-hub-format=compressed",
            "https://tfhub.dev/google/spice/2?tf-hub-format=uncompressed",
        ),
        (
            "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5",
            HandleKind.TFHUB,
            "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5"
            "?tf-hub-format=compressed",
            "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/classification/5"
            "?tf-hub-format=uncompressed",
        ),
        (
            KAGGLE_PAGE,
            HandleKind.KAGGLE,
            KAGGLE_PAGE + "?tf-hub-format=compressed",
            KAGGLE_PAGE + "?tf-hub-format=uncompressed",
        ),
        (KAGGLE_API, HandleKind.KAGGLE_API, KAGGLE_API + "?tf-hub-format=compressed", None),
        (
            "https://hub.tensorflow.google.cn/google/spice/2",
            HandleKind.TFHUB_CN,
            "https://gcs.tensorflow.google.cn/tfhub-modules/google/spice/2.tar.gz",
            "https://hub.tensorflow.google.cn/google/spice/2?tf-hub-format=uncompressed",
        ),
        (
            "https://example.com/models/m.tar.gz?token=a%2Fb",
            HandleKind.HTTP_ARCHIVE,
            "https://example.com/models/m.tar.gz?token=a%2Fb&tf-hub-format=compressed",
            "https://example.com/models/m.tar.gz?token=a%2Fb&tf-hub-format=uncompressed",
        ),
        (
            "gs://my-bucket/models/m.tar.gz",
            HandleKind.GCS_ARCHIVE,
            "gs://my-bucket/models/m.tar.gz",
            None,
        ),
        (
            "gs://my-bucket/models/m.tgz",
            HandleKind.GCS_ARCHIVE,
            "gs://my-bucket/models/m.tgz",
            None,
        ),
        (
            "gs://my-bucket/models/m.tar",
            HandleKind.GCS_ARCHIVE,
            "gs://my-bucket/models/m.tar",
            None,
        ),
        ("gs://my-bucket/models/m/", HandleKind.GCS_FOLDER, None, None),
    ],
)
def test_classifies_each_accepted_form(
    raw: str, kind: HandleKind, download: str | None, uncompressed: str | None
) -> None:
    h = handles.parse(raw)
    assert h.kind is kind
    assert h.raw == raw
    assert h.download_url == download
    assert h.uncompressed_url == uncompressed
    assert h.cache_key == hashlib.sha1(raw.encode("utf8")).hexdigest()


def test_gcs_folder_keeps_the_path_without_trailing_slash() -> None:
    assert handles.parse("gs://b-1/x/y/").path == "gs://b-1/x/y"


def test_cache_key_is_the_handle_exactly_as_given() -> None:
    # tensorflow_hub does not normalise: two spellings are two cache entries.
    a = handles.parse("https://tfhub.dev/google/spice/2")
    b = handles.parse("https://tfhub.dev/google/spice/2/")
    assert a.cache_key != b.cache_key
    assert a.cache_key == hashlib.sha1(b"https://tfhub.dev/google/spice/2").hexdigest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://tfhub.dev/google/spice/2",
            "http://127.0.0.1:9/google/spice/2?tf-hub-format=compressed",
        ),
        (
            KAGGLE_PAGE,
            "http://127.0.0.1:9"
            + KAGGLE_PAGE[len("https://www.kaggle.com") :]
            + "?tf-hub-format=compressed",
        ),
        (
            KAGGLE_API,
            "http://127.0.0.1:9"
            + KAGGLE_API[len("https://www.kaggle.com") :]
            + "?tf-hub-format=compressed",
        ),
        (
            "https://hub.tensorflow.google.cn/google/spice/2",
            "http://127.0.0.1:9/tfhub-modules/google/spice/2.tar.gz",
        ),
        # Other URLs are the user's own servers: never redirected.
        (
            "https://example.com/m.tar.gz",
            "https://example.com/m.tar.gz?tf-hub-format=compressed",
        ),
    ],
)
def test_endpoint_swaps_scheme_and_host_but_not_the_cache_key(raw: str, expected: str) -> None:
    h = handles.parse(raw, endpoint="http://127.0.0.1:9")
    assert h.download_url == expected
    assert h.cache_key == handles.cache_key(raw)


def test_endpoint_with_a_path_prefix() -> None:
    h = handles.parse("https://tfhub.dev/google/spice/2", endpoint="https://mirror.corp/hub/")
    assert h.download_url == "https://mirror.corp/hub/google/spice/2?tf-hub-format=compressed"
    assert h.uncompressed_url == "https://mirror.corp/hub/google/spice/2?tf-hub-format=uncompressed"


def test_bad_endpoint_is_a_setting_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUBMAGIC_ENDPOINT", "ftp://mirror")
    with pytest.raises(InvalidSettingError, match=r"^HUBMAGIC_ENDPOINT='ftp://mirror' is not an"):
        hubmagic.resolve("https://tfhub.dev/google/spice/2", cache_dir=str(tmp_path))


def test_local_folder(tmp_path: Path) -> None:
    h = handles.parse(str(tmp_path))
    assert h.kind is HandleKind.LOCAL_FOLDER
    assert h.path == str(tmp_path)
    assert h.download_url is None


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        ("", InvalidHandleError, "empty"),
        (" https://tfhub.dev/google/spice/2", InvalidHandleError, "leading or trailing spaces"),
        ("ftp://example.com/m.tar.gz", InvalidHandleError, "ftp:// scheme is not supported"),
        ("https://tfhub.dev/google/spice", InvalidHandleError, "version number"),
        ("https://www.kaggle.com/models/google/spice", InvalidHandleError, "framework, variation"),
        ("gs://A_Bucket/m", InvalidHandleError, "not a valid bucket name"),
        ("gs://bucket/a/../b", InvalidHandleError, "'..'"),
        ("google/spice/2", InvalidHandleError, "Did you mean https://tfhub.dev/google/spice/2"),
        ("/definitely/not/here", ModelNotFoundError, "No such folder"),
        ("spice", InvalidHandleError, "Give a tfhub.dev or Kaggle model URL"),
    ],
)
def test_bad_handles_get_errors_that_say_what_to_do(
    raw: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        handles.parse(raw)
    assert isinstance(info.value, ValueError | FileNotFoundError)


def test_invalid_handle_says_what_is_wrong_in_one_line_and_the_forms_in_its_fix() -> None:
    with pytest.raises(InvalidHandleError) as info:
        handles.parse("spice")
    message, fix = info.value.describe("magic")
    assert "\n" not in message and fix is not None and "\n" not in fix
    for form in ("https://tfhub.dev/<publisher>/<model>/<version>", "gs://", "saved_model.pb"):
        assert form in fix


def test_local_archive_file_says_to_extract_it(tmp_path: Path) -> None:
    archive = tmp_path / "m.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(NotASavedModelError, match="extract it into a folder"):
        handles.parse(str(archive))


@pytest.mark.parametrize(
    ("raw", "download", "uncompressed"),
    [
        (
            "https://tfhub.dev/google/spice/2/",
            "https://tfhub.dev/google/spice/2?tf-hub-format=compressed",
            "https://tfhub.dev/google/spice/2?tf-hub-format=uncompressed",
        ),
        (
            "https://tfhub.dev/google/spice/2?tf-hub-format=uncompressed",
            "https://tfhub.dev/google/spice/2?tf-hub-format=compressed",
            "https://tfhub.dev/google/spice/2?tf-hub-format=uncompressed",
        ),
        (
            "http://127.0.0.1:8000/google/tiny/1//?tf-hub-format=compressed&x=1#top",
            "http://127.0.0.1:8000/google/tiny/1?x=1&tf-hub-format=compressed",
            "http://127.0.0.1:8000/google/tiny/1?x=1&tf-hub-format=uncompressed",
        ),
    ],
)
def test_download_urls_are_normalised_but_the_cache_key_is_the_handle_as_given(
    raw: str, download: str, uncompressed: str
) -> None:
    handle = handles.parse(raw)
    assert (handle.download_url, handle.uncompressed_url) == (download, uncompressed)
    assert handle.cache_key == hashlib.sha1(raw.encode("utf8")).hexdigest()  # tensorflow_hub's
