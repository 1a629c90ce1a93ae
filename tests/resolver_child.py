"""A resolver in a child process, slowed down on cue, optionally behind a start barrier."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.barrier import CHILD_CODE, NO_BARRIER, StartBarrier

# A resolver process. It slows its own download through the progress callback
# (sleeping on each byte event) so that the test can act while it downloads.
# With a start barrier, it imports hubmagic, says it is ready and waits to go.
CHILD = CHILD_CODE + textwrap.dedent(
    """
    import sys, time
    import hubmagic

    handle, cache, ready, go, delay = sys.argv[1:5] + [float(sys.argv[5])]
    wait_at_barrier(ready, go)

    def slow(event):
        if event.phase is hubmagic.Phase.DOWNLOADING:
            time.sleep(delay)

    result = hubmagic.resolve_model(handle, cache_dir=cache, progress=slow)
    print(result.path, result.source, flush=True)
    """
)


def start_child(
    handle: str, cache: str, barrier: StartBarrier | None = None, delay: float = 0.0
) -> subprocess.Popen[str]:
    """Starts ``hubmagic.resolve_model(handle, cache_dir=cache)`` in a child.

    It sleeps ``delay`` s on each byte event, and prints ``path source`` on
    its stdout when done. With ``barrier``, it starts resolving only once the
    parent calls ``barrier.release``.
    """
    ready, go = barrier.child_args() if barrier else NO_BARRIER
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, handle, cache, ready, go, str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
