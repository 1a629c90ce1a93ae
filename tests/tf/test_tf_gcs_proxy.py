"""TensorFlow's own gs:// filesystem, routed to fake-gcs-server by tests/tf_gcs_proxy.py.

The checks run in fresh interpreters (:func:`run_tf`, see its docstring), batched
so that each test pays one TensorFlow import; one test uses the in-process
``tf_gcs`` fixture instead.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from hubmagic.server import HubServer
from tests.gcs_fixtures import upload_folder
from tests.tf_gcs_proxy import TfGcsProxy, run_tf

pytestmark = pytest.mark.tf

TINY = "google/tiny/1"


@pytest.fixture
def bucket(gcs: Any, saved_models_dir: Path) -> str:
    """A new bucket holding ``google/tiny/1`` (x * 2 + 1)."""
    name = f"tf-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    upload_folder(gcs, saved_models_dir / TINY, f"gs://{name}/{TINY}")
    return name


def _run_json(proxy: TfGcsProxy, code: str, **env: str) -> dict[str, Any]:
    """Runs ``code`` with the proxy's environment; returns the JSON on its last stdout line."""
    done = run_tf(code, {**proxy.env, **env})
    tail = f"\n--- stderr:\n{done.stderr[-4000:]}\n--- proxy log:\n{proxy.log_text()[-4000:]}"
    assert done.returncode == 0, f"exit {done.returncode}{tail}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output{tail}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _blobs(gcs: Any, bucket: str, prefix: str) -> dict[str, int]:
    return {blob.name: blob.size for blob in gcs.list_blobs(bucket, prefix=prefix)}


def test_gfile_and_saved_model_load_on_gs(
    gcs: Any, bucket: str, saved_models_dir: Path, tf_gcs_proxy: TfGcsProxy
) -> None:
    root = f"gs://{bucket}/{TINY}"
    result = _run_json(
        tf_gcs_proxy,
        f"""
import json
import tensorflow as tf

root = {root!r}
cache = "gs://{bucket}/cache"
out = {{}}
out["listdir"] = tf.io.gfile.listdir(root)
out["variables"] = tf.io.gfile.listdir(root + "/variables")
model = tf.saved_model.load(root)
out["values"] = model(tf.constant([1.0, 2.0])).numpy().tolist()

# As tensorflow_hub writes its lock file: a temporary name, then a rename.
with tf.io.gfile.GFile(cache + "/abc.lock.tmp123", "w") as f:
    f.write("host.42.task")
tf.io.gfile.rename(cache + "/abc.lock.tmp123", cache + "/abc.lock", overwrite=False)
# ... and its download: a temporary folder renamed into place (a folder
# rename is where TF asks for the bucket's storageLayout).
tf.io.gfile.makedirs(cache + "/abc.uuid.tmp")
with tf.io.gfile.GFile(cache + "/abc.uuid.tmp/saved_model.pb", "wb") as f:
    f.write(bytes(300_000))
tf.io.gfile.rename(cache + "/abc.uuid.tmp", cache + "/abc", overwrite=False)
out["cache"] = tf.io.gfile.listdir(cache)
print(json.dumps(out))
""",
    )

    local = saved_models_dir / TINY
    files = [p.relative_to(local).parts for p in local.rglob("*") if p.is_file()]
    # (1) listdir: folders end with "/", empty local folders were not uploaded.
    assert sorted(result["listdir"]) == sorted({p[0] + ("/" if len(p) > 1 else "") for p in files})
    assert sorted(result["variables"]) == sorted(p[1] for p in files if p[0] == "variables")
    # (2) the SavedModel loads from gs:// and computes x * 2 + 1.
    assert result["values"] == [3.0, 5.0]
    # (3) write + rename, seen by TF and by google-cloud-storage.
    assert sorted(result["cache"]) == ["abc.lock", "abc/"]
    blobs = _blobs(gcs, bucket, "cache/")
    assert blobs["cache/abc/saved_model.pb"] == 300_000
    assert not [name for name in blobs if ".tmp" in name], blobs
    assert gcs.bucket(bucket).blob("cache/abc.lock").download_as_text() == "host.42.task"
    assert f"/storage/v1/b/{bucket}/storageLayout -> 200" in tf_gcs_proxy.log_text()


def test_hub_load_fills_a_gs_cache(
    gcs: Any, bucket: str, hub_server: HubServer, tf_gcs_proxy: TfGcsProxy
) -> None:
    handle = f"{hub_server.url}/{TINY}"
    key = hashlib.sha1(handle.encode("utf8")).hexdigest()
    mark = hub_server.mark()
    result = _run_json(
        tf_gcs_proxy,
        f"""
import json
import tensorflow as tf
import tensorflow_hub as hub

x = tf.constant([1.0, 2.0])
out = {{}}
out["values"] = hub.load({handle!r})(x).numpy().tolist()
out["resolved"] = hub.resolve({handle!r})
# An uncompressed gs:// folder is used in place.
out["in_place"] = hub.load("gs://{bucket}/{TINY}")(x).numpy().tolist()
print(json.dumps(out))
""",
        TFHUB_CACHE_DIR=f"gs://{bucket}/cache",
    )

    assert result["values"] == [3.0, 5.0]
    assert result["in_place"] == [3.0, 5.0]
    assert result["resolved"] == f"gs://{bucket}/cache/{key}"
    # One download; hub.resolve then found the model in the gs:// cache.
    downloads = [r for r in hub_server.requests_since(mark) if r.method == "GET"]
    assert len(downloads) == 1, downloads
    blobs = _blobs(gcs, bucket, "cache/")
    assert blobs[f"cache/{key}/saved_model.pb"] > 0
    assert any(name.startswith(f"cache/{key}/variables/") for name in blobs), blobs
    assert f"cache/{key}.lock" not in blobs
    assert not [name for name in blobs if ".tmp" in name], blobs
    descriptor = gcs.bucket(bucket).blob(f"cache/{key}.descriptor.txt").download_as_text()
    assert handle in descriptor


@pytest.mark.timeout(120)
def test_tf_gcs_fixture_routes_this_process(bucket: str, tf_gcs: TfGcsProxy) -> None:
    tf = pytest.importorskip("tensorflow")
    root = f"gs://{bucket}/{TINY}"
    assert tf.io.gfile.exists(f"{root}/saved_model.pb")
    model = tf.saved_model.load(root)
    assert model(tf.constant([1.0, 2.0])).numpy().tolist() == [3.0, 5.0]
    assert f"/storage/v1/b/{bucket}/o" in tf_gcs.log_text()
