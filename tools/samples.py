"""Sample SavedModels for the demo (``bash demo.sh``) and the tests.

Importing this module does not import TensorFlow; the builders import it when
called. ``python -m tools.samples DEST [--big-mb N]`` builds
:data:`TINY_1`, :data:`TINY_2` and :data:`BIG_1` under ``DEST`` in the layout
``hubmagic serve`` serves (``DEST/<owner>/<model>/<version>/saved_model.pb``),
and reuses what an earlier run built.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["BIG_1", "TINY_1", "TINY_2", "build_big", "build_samples", "build_tiny", "main"]

TINY_1 = "google/tiny/1"
"""``x * 2.0 + 1.0``."""
TINY_2 = "google/tiny/2"
"""``x * 3.0 + 0.0``."""
BIG_1 = "google/big/1"
"""One random float32 variable of ``big_mb`` MB; ``x * mean(v)``."""

_MANIFEST = ".samples.json"
"""What :func:`build_samples` built, at the root of its folder (``{path: params}``)."""
_TMP_MARK = ".tmp-"


def _import_tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def build_tiny(path: str | os.PathLike[str], w: float = 2.0, b: float = 1.0) -> Path:
    """Saves a SavedModel computing ``x * w + b`` on a float32 vector.

    ``w`` and ``b`` are ``tf.Variable``s; the model has ``__call__`` and a
    ``serving_default`` signature (output key ``output_0``).

    Args:
        path: Folder to write (created).
        w: The factor.
        b: The offset.

    Returns:
        ``path`` as a Path.
    """
    tf = _import_tf()

    class Tiny(tf.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__(name="tiny")
            self.w = tf.Variable(w, dtype=tf.float32, name="w")
            self.b = tf.Variable(b, dtype=tf.float32, name="b")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])  # type: ignore[untyped-decorator]
        def __call__(self, x: Any) -> Any:
            return x * self.w + self.b

    module = Tiny()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(
        module,
        str(out),
        signatures={"serving_default": module.__call__.get_concrete_function()},
    )
    return out


def build_big(path: str | os.PathLike[str], mb: float = 54, seed: int = 0) -> Path:
    """Saves a SavedModel holding one random float32 variable of ``mb`` MB.

    Its ``__call__(x)`` (float32 vector) returns ``x * reduce_mean(v)``. Random
    values do not compress, so its archive is about ``mb`` MB too.

    Args:
        path: Folder to write (created).
        mb: Size of the variable in MB (10**6 bytes).
        seed: Seed of the random values (same seed, same bytes).

    Returns:
        ``path`` as a Path.
    """
    tf = _import_tf()
    import numpy as np

    values = np.random.default_rng(seed).standard_normal(int(mb * 1_000_000) // 4, np.float32)

    class Big(tf.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__(name="big")
            self.v = tf.Variable(values, name="v")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])  # type: ignore[untyped-decorator]
        def __call__(self, x: Any) -> Any:
            return x * tf.reduce_mean(self.v)

    module = Big()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(out))
    return out


def _read_manifest(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads((dest / _MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def build_samples(
    dest: str | os.PathLike[str],
    *,
    big_mb: float = 300,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Builds the sample models under ``dest``, reusing those already built.

    Each model is saved into a temporary sibling folder and renamed into place,
    so an interrupted build leaves no half model (its leftovers are removed by
    the next call). A model is rebuilt when its parameters changed (e.g. another
    ``big_mb``) or its ``saved_model.pb`` is missing.

    Args:
        dest: The models folder (created).
        big_mb: Size of :data:`BIG_1`'s variable in MB.
        log: Receives one line per step (default: print to stdout).

    Returns:
        The model paths built now (empty when everything was reused).
    """
    say = log or (lambda line: print(line, flush=True))
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, tuple[dict[str, float], Callable[[Path], Path]]] = {
        TINY_1: ({"w": 2.0, "b": 1.0}, lambda p: build_tiny(p, 2.0, 1.0)),
        TINY_2: ({"w": 3.0, "b": 0.0}, lambda p: build_tiny(p, 3.0, 0.0)),
        BIG_1: ({"mb": float(big_mb)}, lambda p: build_big(p, big_mb)),
    }
    manifest = _read_manifest(root)
    built: list[str] = []
    for name, (params, build) in wanted.items():
        final = root / name
        for leftover in final.parent.glob(f"{final.name}{_TMP_MARK}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if manifest.get(name) == params and (final / "saved_model.pb").is_file():
            continue
        size = f" ({big_mb:g} MB)" if name == BIG_1 else ""
        say(f"building {name}{size} ...")
        started = time.monotonic()
        tmp = final.parent / f"{final.name}{_TMP_MARK}{os.getpid()}"
        build(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        manifest[name] = params
        (root / _MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        built.append(name)
        say(f"built {name} in {time.monotonic() - started:.1f} s")
    if not built:
        say(f"reusing sample models in {root}")
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.samples",
        description=(
            f"Build the sample SavedModels {TINY_1}, {TINY_2} and {BIG_1} under DEST "
            "(reusing those already built)."
        ),
    )
    parser.add_argument("dest", metavar="DEST", help="the models folder")
    parser.add_argument(
        "--big-mb", type=float, default=300, help=f"size of {BIG_1} in MB (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.big_mb <= 0:
        parser.error(f"--big-mb must be positive, not {args.big_mb}")
    build_samples(args.dest, big_mb=args.big_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
