"""Builds the benchmark's SavedModel and its prebuilt ``.tar.gz`` archive.

Imported by ``bench_download.py`` only when the cached copy is missing, so the
benchmark's children never load TensorFlow through it.

The model is made to look like a big real one: seeded random float32 weights
(which compress to about 97 % of their size, like trained weights) in several
variables saved as several ``variables.data-*`` shards, plus asset files of
random bytes, so that the archive has dozens of members of mixed sizes.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

ASSET_FILES = 50
"""How many asset files the model gets."""

ASSET_SHARE = 0.05
"""Fraction of the model's bytes that are assets; the rest are variables."""

VARIABLES = 12
"""How many weight variables the model gets (of unequal sizes)."""

SHARD_BYTES = 64 * 10**6
"""Largest ``variables.data-*`` shard TensorFlow is asked to write."""

GZIP_LEVEL = 6
"""zlib level of the archive (``gzip``'s default, what tfhub.dev archives use)."""

ISAL_LEVEL = 2
"""ISA-L level used instead with ``compressor="isal"`` (what HubServer maps 6 to)."""


def _import_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _split(total: int, parts: int, rng: Any, minimum: int) -> list[int]:
    """Splits ``total`` into ``parts`` unequal sizes of at least ``minimum`` each."""
    weights = rng.uniform(0.5, 1.5, parts)
    sizes = [max(minimum, int(total * w / weights.sum())) for w in weights]
    sizes[-1] += total - sum(sizes)
    return sizes


def build_saved_model(path: str | os.PathLike[str], *, mb: int, seed: int = 0) -> Path:
    """Saves a SavedModel of about ``mb`` MB (10**6 bytes) of random weights and assets.

    The module computes ``x * mean(first variable)`` on a float32 vector (a
    ``serving_default`` signature), holds :data:`VARIABLES` float32 variables of
    standard-normal values and :data:`ASSET_FILES` ``tf.saved_model.Asset`` files
    of random bytes; variables are written in shards of at most
    :data:`SHARD_BYTES`.

    Args:
        path: Folder to write; it must not exist yet.
        mb: Approximate size of the model in MB; at least 1.
        seed: Seed of the random values (same seed, same weights and assets).

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: ``mb`` is less than 1.
        FileExistsError: ``path`` exists.
    """
    if mb < 1:
        raise ValueError(f"mb must be at least 1, not {mb}")
    out = Path(path)
    if out.exists():
        raise FileExistsError(f"{out} already exists")
    import numpy as np

    tf = _import_tf()
    rng = np.random.default_rng(seed)
    total = mb * 10**6
    asset_bytes = int(total * ASSET_SHARE)
    weight_bytes = total - asset_bytes

    staging = out.parent / (out.name + ".assets-src")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    asset_paths = []
    for index, size in enumerate(_split(asset_bytes, ASSET_FILES, rng, 1)):
        asset = staging / f"asset_{index:03d}.bin"
        asset.write_bytes(rng.bytes(size))
        asset_paths.append(str(asset))

    element_counts = [size // 4 for size in _split(weight_bytes, VARIABLES, rng, 4)]

    class Big(tf.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__(name="big")
            self.weights = [
                tf.Variable(
                    rng.standard_normal(count, dtype=np.float32), trainable=False, name=f"w{i}"
                )
                for i, count in enumerate(element_counts)
            ]
            self.assets = [tf.saved_model.Asset(p) for p in asset_paths]

        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=[tf.TensorSpec([None], tf.float32)]
        )
        def __call__(self, x: Any) -> Any:
            return x * tf.reduce_mean(self.weights[0])

    module = Big()
    options = tf.saved_model.SaveOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(
            max_shard_size=SHARD_BYTES
        )
    )
    try:
        tf.saved_model.save(
            module,
            str(out),
            signatures={"serving_default": module.__call__.get_concrete_function()},
            options=options,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _open_gzip(path: Path, compressor: str) -> Any:
    if compressor == "zlib":
        # mtime=0: the same folder always gives the same archive bytes.
        return gzip.GzipFile(path, "wb", compresslevel=GZIP_LEVEL, mtime=0)
    if compressor == "isal":
        from isal import igzip

        return igzip.IGzipFile(path, "wb", compresslevel=ISAL_LEVEL, mtime=0)  # type: ignore[no-untyped-call]
    raise ValueError(f"compressor must be 'zlib' or 'isal', not {compressor!r}")


def write_archive(
    folder: str | os.PathLike[str], archive: str | os.PathLike[str], *, compressor: str = "zlib"
) -> Path:
    """Writes ``folder`` as a tar.gz with its files at the archive's root.

    Members are sorted, owned by 0:0 and dated 0, so the archive only depends on
    the files. Directory members are included (``variables``, ``assets``), as in
    tfhub.dev archives.

    Args:
        folder: The SavedModel folder.
        archive: The ``.tar.gz`` to write (replaced atomically).
        compressor: ``"zlib"`` (level :data:`GZIP_LEVEL`) or ``"isal"`` (ISA-L
            level :data:`ISAL_LEVEL`, several times faster to build).

    Returns:
        ``archive`` as a Path.
    """
    src = Path(folder)
    dest = Path(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with (
        _open_gzip(partial, compressor) as raw,
        tarfile.open(fileobj=raw, mode="w|", format=tarfile.GNU_FORMAT) as tar,
    ):
        for current, dirs, files in os.walk(src):
            dirs.sort()
            rel_dir = os.path.relpath(current, src)
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(current, name)
                arcname = name if rel_dir == "." else f"{rel_dir}/{name}"
                tar.add(full, arcname=arcname, recursive=False, filter=clean)
    os.replace(partial, dest)
    return dest
