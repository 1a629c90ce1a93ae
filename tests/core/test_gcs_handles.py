"""gs:// folders used in place and gs:// archives extracted into the cache, on a real emulator."""

from __future__ import annotations

import io
import os
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import hubmagic
from hubmagic.core.errors import GcsError, ModelNotFoundError, NotASavedModelError
from hubmagic.core.handle import cache_key
from tests.gcs_fixtures import upload_folder


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def test_gcs_folder_is_checked_and_used_in_place(
    gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    url = f"gs://{bucket}/google/tiny/1"
    upload_folder(gcs, fake_models_dir / "google/tiny/1", url)
    result = hubmagic.resolve_model(url + "/", cache_dir=cache)
    assert result.path == url and result.source == "folder"
    assert not os.path.exists(cache)


def test_gcs_folder_without_saved_model_is_refused(
    gcs: Any, bucket: str, fake_models_dir: Path
) -> None:
    url = f"gs://{bucket}/google/tiny/1"
    upload_folder(gcs, fake_models_dir / "google/tiny/1/variables", url + "/variables")
    with pytest.raises(NotASavedModelError, match=r"has no saved_model\.pb"):
        hubmagic.resolve(url)
    with pytest.raises(NotASavedModelError, match="is empty"):
        hubmagic.resolve(f"gs://{bucket}/nothing/here")


def test_gcs_archive_is_extracted_into_the_cache(
    gcs: Any, bucket: str, fake_models_dir: Path, cache: str
) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.add(fake_models_dir / "google/tiny/1", arcname=".")
    gcs.bucket(bucket).blob("archives/tiny.tar.gz").upload_from_string(data.getvalue())
    url = f"gs://{bucket}/archives/tiny.tar.gz"

    events: list[hubmagic.ProgressEvent] = []
    result = hubmagic.resolve_model(url, cache_dir=cache, progress=events.append)
    assert result.path == os.path.join(cache, cache_key(url))
    assert result.source == "download"
    assert (Path(result.path) / "saved_model.pb").read_bytes() == (
        fake_models_dir / "google/tiny/1/saved_model.pb"
    ).read_bytes()
    assert events[-1].bytes_done == len(data.getvalue())
    assert events[-1].total == len(data.getvalue())
    assert hubmagic.resolve_model(url, cache_dir=cache).source == "cache"


def test_missing_gcs_archive_and_bucket_fail_fast(gcs: Any, bucket: str, cache: str) -> None:
    with pytest.raises(ModelNotFoundError, match="No archive at"):
        hubmagic.resolve(f"gs://{bucket}/nope.tar.gz", cache_dir=cache)
    start = time.monotonic()
    with pytest.raises(GcsError, match="does not exist"):
        hubmagic.resolve("gs://no-such-bucket-hubmagic/m", cache_dir=cache)
    assert time.monotonic() - start < 10
    assert [n for n in os.listdir(cache) if not n.endswith(".descriptor.txt")] == []
