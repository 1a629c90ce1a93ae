"""SavedModel-shaped folders written without TensorFlow, for the tests that never load one.

hubmagic only looks at a model's file names and sizes (its completeness check,
:func:`hubmagic.core.savedmodel.find_problem`), the hub server only archives
the files, and the cache only copies them. So most tests need folders shaped
like a SavedModel, not graphs TensorFlow can run: these have the files
``tf.saved_model.save`` writes (``saved_model.pb``, ``fingerprint.pb``, an
empty ``assets/``, ``variables/variables.index`` and one
``variables/variables.data-00000-of-00001`` shard) filled with deterministic
pseudo-random bytes (same name, same bytes; they do not compress, as real
float32 weights do not). TensorFlow cannot load them: tests that do use the
real models of :mod:`tests.hub_fixtures` and are marked ``tf``.

Importing this module imports neither TensorFlow nor NumPy.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

from tools.samples import BIG_1, TINY_1, TINY_2

__all__ = ["BIG_1", "BIG_MB", "TINY_1", "TINY_2", "build_fake_models", "write_fake_saved_model"]

BIG_MB = 54
"""Size of the variables shard of the fake ``google/big/1`` in MB (10**6 bytes)."""

# Sizes as tf.saved_model.save writes them for tools.samples.build_tiny.
_GRAPH_BYTES = 13_560
_FINGERPRINT_BYTES = 95
_INDEX_BYTES = 234
_TINY_DATA_BYTES = 228


def _noise(label: str, size: int) -> bytes:
    """``size`` deterministic, incompressible bytes derived from ``label``."""
    seed = int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big")
    return random.Random(seed).randbytes(size)


def write_fake_saved_model(
    path: str | os.PathLike[str], *, data_bytes: int = _TINY_DATA_BYTES, label: str | None = None
) -> Path:
    """Writes a SavedModel-shaped folder (not loadable by TensorFlow).

    Args:
        path: Folder to write (created, with its parents).
        data_bytes: Size of the one variables data shard.
        label: What the bytes derive from (default: ``path``'s last three
            parts, e.g. ``google/tiny/1``), so two models differ and one
            model is the same wherever it is written.

    Returns:
        ``path`` as a Path.
    """
    out = Path(path)
    label = label or "/".join(out.parts[-3:])
    (out / "variables").mkdir(parents=True, exist_ok=True)
    (out / "assets").mkdir(exist_ok=True)
    (out / "saved_model.pb").write_bytes(_noise(f"{label}:graph", _GRAPH_BYTES))
    (out / "fingerprint.pb").write_bytes(_noise(f"{label}:fingerprint", _FINGERPRINT_BYTES))
    (out / "variables" / "variables.index").write_bytes(_noise(f"{label}:index", _INDEX_BYTES))
    (out / "variables" / "variables.data-00000-of-00001").write_bytes(
        _noise(f"{label}:data", data_bytes)
    )
    return out


def build_fake_models(root: str | os.PathLike[str], *, big_mb: float = BIG_MB) -> Path:
    """Writes fake :data:`TINY_1`, :data:`TINY_2` and :data:`BIG_1` under ``root``.

    The layout is that of :func:`tools.samples.build_samples`
    (``root/<owner>/<model>/<version>/saved_model.pb``), which ``hubmagic
    serve`` and :class:`hubmagic.server.HubServer` serve. The big model's
    shard is ``big_mb`` MB (a fraction of a second to write).

    Returns:
        ``root`` as a Path.
    """
    out = Path(root)
    write_fake_saved_model(out / TINY_1, label=TINY_1)
    write_fake_saved_model(out / TINY_2, label=TINY_2)
    write_fake_saved_model(out / BIG_1, data_bytes=int(big_mb * 1_000_000), label=BIG_1)
    return out
