"""What ``%load_ext hubmagic`` adds to a kernel's start, against bare ``import IPython``.

Each contender runs in a fresh interpreter, many times, alternating, and the
medians are compared (the machine is shared and noisy: no single run counts).
Also lists which heavy modules the extension pulled in (it must be none).

    .venv/bin/python benchmarks/bench_import.py [--runs 30]

Target: under 50 ms extra.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BARE = "import IPython; IPython.core.interactiveshell.InteractiveShell.instance()"
WITH_EXTENSION = (
    BARE
    + "; ip = IPython.core.interactiveshell.InteractiveShell.instance()"
    + "; ip.run_line_magic('load_ext', 'hubmagic')"
)
HEAVY = ("tensorflow", "tensorflow_hub", "google.cloud.storage", "ipywidgets", "requests")
TARGET_MS = 50.0


def wall_time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    wall_time(WITH_EXTENSION)  # warm the file system cache and .pyc files
    bare: list[float] = []
    extension: list[float] = []
    for _ in range(args.runs):
        bare.append(wall_time(BARE))
        extension.append(wall_time(WITH_EXTENSION))
    bare_ms = statistics.median(bare) * 1000
    extension_ms = statistics.median(extension) * 1000
    extra = extension_ms - bare_ms

    check = WITH_EXTENSION + f"; import sys; print([m for m in {HEAVY!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True
    ).stdout.strip()

    print(f"runs: {args.runs} of each, alternating; medians")
    print(f"import IPython + shell:             {bare_ms:7.1f} ms")
    print(f"  ... + %load_ext hubmagic:         {extension_ms:7.1f} ms")
    verdict = "PASS" if extra < TARGET_MS else "MISS"
    print(
        f"extra for the extension:            {extra:7.1f} ms"
        f"  (target < {TARGET_MS:.0f} ms: {verdict})"
    )
    print(f"heavy modules loaded by %load_ext:  {loaded}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
