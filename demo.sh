#!/usr/bin/env bash
# The demo, from a fresh machine: `bash demo.sh`.
#   1. creates (or reuses) the venv and installs hubmagic[tf,browser] into it
#      (skipped when pyproject.toml has not changed since the last install);
#   2. builds sample SavedModels (google/tiny/1, google/tiny/2 and a big
#      google/big/1) into $HUBMAGIC_DEMO_DIR/models, or reuses them;
#   3. serves them with `hubmagic serve` on 127.0.0.1 as a stand-in for tfhub.dev;
#   4. starts JupyterLab on 127.0.0.1 on notebooks/quickstart.ipynb, its kernels
#      with HUBMAGIC_ENDPOINT pointing at that server and a demo cache
#      (TFHUB_CACHE_DIR=$HUBMAGIC_DEMO_DIR/cache), and prints the URL to open.
# Ctrl-C (or SIGTERM) stops the hub server, JupyterLab and its kernels, then
# exits 0; any other exit code means something failed.
#
# Settings (environment variables):
#   HUBMAGIC_VENV           the venv (default: .venv, as tests/run.sh)
#   HUBMAGIC_DEMO_INSTALL   0: use the venv as it is, never run pip (default: 1)
#   HUBMAGIC_DEMO_DIR       models, cache, logs, Jupyter state (default: .demo)
#   HUBMAGIC_DEMO_BIG_MB    size of google/big/1 in MB (default: 300)
#   HUBMAGIC_DEMO_HUB_PORT  port of the hub server (default: a free one)
#   HUBMAGIC_DEMO_LAB_PORT  port of JupyterLab (default: a free one)
#   PYTHON                  the Python that creates the venv (default: python3)
set -euo pipefail
cd "$(dirname "$0")"
REPO=$PWD

PYTHON=${PYTHON:-python3}
VENV=${HUBMAGIC_VENV:-.venv}
INSTALL=${HUBMAGIC_DEMO_INSTALL:-1}
DEMO_DIR=${HUBMAGIC_DEMO_DIR:-.demo}
BIG_MB=${HUBMAGIC_DEMO_BIG_MB:-300}
HUB_PORT=${HUBMAGIC_DEMO_HUB_PORT:-0}
LAB_PORT=${HUBMAGIC_DEMO_LAB_PORT:-}
NOTEBOOK=notebooks/quickstart.ipynb
EXTRAS='.[tf,browser]'

say() { echo "== $*"; }

# -- 1. the venv ------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
PY=$VENV/bin/python
if [ "$INSTALL" != 0 ]; then
  STAMP=$VENV/.hubmagic-demo-installed
  WANT="$EXTRAS $("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' pyproject.toml)"
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    say "hubmagic[tf,browser] is installed in $VENV (pyproject.toml unchanged)"
  else
    say "installing hubmagic[tf,browser] into $VENV (a few minutes the first time)"
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$EXTRAS"
    echo "$WANT" >"$STAMP"
  fi
fi

# -- the demo folder ------------------------------------------------------------------
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
MODELS=$DEMO_DIR/models
CACHE=$DEMO_DIR/cache
JUPYTER_STATE=$DEMO_DIR/jupyter
RUNTIME=$JUPYTER_STATE/runtime
mkdir -p "$MODELS" "$CACHE" "$RUNTIME" "$JUPYTER_STATE/workspaces"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

# -- stopping everything ----------------------------------------------------------------
HUB_PID=
LAB_PID=
LAB_URL=
TOKEN=

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# wait_gone SECONDS PID...: true once every PID has exited (our children are reaped).
# The deadline is on bash's clock, so a loaded machine does not stretch it.
wait_gone() {
  local end=$((SECONDS + $1)) pid running
  shift
  while :; do
    running=
    for pid in "$@"; do alive "$pid" && running=1; done
    [ -z "$running" ] && break
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.1
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# stop_pids SECONDS PID...: SIGTERM to all at once, SIGKILL to those left after SECONDS.
stop_pids() {
  local seconds=$1 pid
  shift
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait_gone "$seconds" "$@" && return 0
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait_gone 5 "$@" || true
}

# Kernels run in their own sessions; their command line names their connection
# file in $RUNTIME, which is how leftovers are found (read by bash itself: no
# process started per process looked at).
kernel_pids() {
  [ -d /proc ] || return 0
  local proc args
  for proc in /proc/[0-9]*; do
    [ "${proc#/proc/}" = $$ ] && continue
    mapfile -d '' -t args 2>/dev/null <"$proc/cmdline" || continue
    if [[ " ${args[*]} " == *"$RUNTIME/"* ]]; then echo "${proc#/proc/}"; fi
  done
}

STOPPED=
stop_all() {
  [ -n "$STOPPED" ] && return 0
  STOPPED=1
  trap '' INT TERM
  # Both at once. SIGTERM makes JupyterLab shut its kernels down before it exits
  # (as its /api/shutdown does); the hub server stops within a second or so.
  local pids=() pid
  for pid in "$HUB_PID" "$LAB_PID"; do
    if alive "$pid"; then pids+=("$pid"); fi
  done
  if [ "${#pids[@]}" -gt 0 ]; then stop_pids 15 "${pids[@]}"; fi
  # Kernels left behind (JupyterLab had to be killed, or a kernel ignored it).
  local kernels
  kernels=$(kernel_pids)
  # shellcheck disable=SC2086  # one pid a word
  if [ -n "$kernels" ]; then stop_pids 5 $kernels; fi
}

on_signal() {
  echo
  say "stopping the hub server, JupyterLab and its kernels"
  stop_all
  say "stopped"
  exit 0
}
trap on_signal INT TERM
trap stop_all EXIT

# -- 2. the sample models ---------------------------------------------------------------
say "sample models in $MODELS"
# TensorFlow's start-up noise goes to a log, shown when the build fails.
BUILD_LOG=$DEMO_DIR/build.log
if ! "$PY" -m tools.samples "$MODELS" --big-mb "$BIG_MB" 2>"$BUILD_LOG"; then
  echo "demo.sh: error: building the sample models failed; the end of $BUILD_LOG:" >&2
  tail -n 30 "$BUILD_LOG" >&2
  exit 1
fi

# Children get their own sessions (setsid): Ctrl-C reaches this script only, which
# stops them in order (JupyterLab would otherwise ask "Shutdown this server?").
# setsid execs in place, so $! is the server's own pid.
DETACH=()
if command -v setsid >/dev/null; then DETACH=(setsid); fi

# -- 3. the hub server ------------------------------------------------------------------
HUB_LOG=$DEMO_DIR/hub.log
: >"$HUB_LOG"
"${DETACH[@]}" "$PY" -m hubmagic serve "$MODELS" --host 127.0.0.1 --port "$HUB_PORT" \
  </dev/null >"$HUB_LOG" 2>&1 &
HUB_PID=$!
HUB_URL=
for _ in $(seq 300); do
  HUB_URL=$(sed -n 's/^Serving .* at \(http[^ ]*\)$/\1/p' "$HUB_LOG")
  [ -n "$HUB_URL" ] && break
  alive "$HUB_PID" || break
  sleep 0.1
done
if [ -z "$HUB_URL" ]; then
  echo "demo.sh: error: the hub server did not start; its log ($HUB_LOG):" >&2
  cat "$HUB_LOG" >&2
  exit 1
fi
say "hub server (pid $HUB_PID, log $HUB_LOG):"
sed -n 's/^  http/  http/p' "$HUB_LOG"

# -- 4. JupyterLab ----------------------------------------------------------------------
read -r FREE_PORT TOKEN < <("$PY" -c '
import secrets, socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], secrets.token_hex(16))')
LAB_PORT=${LAB_PORT:-$FREE_PORT}
LAB_URL=http://127.0.0.1:$LAB_PORT
LAB_LOG=$DEMO_DIR/jupyterlab.log
# No news or update checks (they need the internet), no first-run toasts.
SETTINGS=$JUPYTER_STATE/settings
mkdir -p "$SETTINGS/@jupyterlab/apputils-extension"
echo '{"fetchNews": "false", "checkForUpdates": false}' \
  >"$SETTINGS/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
ROOT_FLAG=()
if [ "$(id -u)" -eq 0 ]; then ROOT_FLAG=(--allow-root); fi
say "starting JupyterLab (log $LAB_LOG)"
HUBMAGIC_ENDPOINT=$HUB_URL \
  TFHUB_CACHE_DIR=$CACHE \
  JUPYTER_RUNTIME_DIR=$RUNTIME \
  JUPYTERLAB_SETTINGS_DIR=$SETTINGS \
  JUPYTERLAB_WORKSPACES_DIR=$JUPYTER_STATE/workspaces \
  NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY} \
  PYTHONUNBUFFERED=1 \
  "${DETACH[@]}" "$PY" -m jupyterlab --no-browser "${ROOT_FLAG[@]}" \
  --ServerApp.ip=127.0.0.1 \
  "--ServerApp.port=$LAB_PORT" \
  --ServerApp.port_retries=0 \
  --KernelManager.shutdown_wait_time=3 \
  "--ServerApp.root_dir=$REPO" \
  "--IdentityProvider.token=$TOKEN" \
  --ServerApp.open_browser=False \
  --LabApp.news_url=None \
  --LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate \
  </dev/null >"$LAB_LOG" 2>&1 &
LAB_PID=$!
if ! "$PY" - "$LAB_URL" "$TOKEN" "$LAB_PID" <<'EOF'; then
import os, sys, time, urllib.request
url, token, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    try:
        urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
EOF
  echo "demo.sh: error: JupyterLab did not start; the end of its log ($LAB_LOG):" >&2
  tail -n 30 "$LAB_LOG" >&2
  exit 1
fi

OPEN=$LAB_URL/lab/tree/$NOTEBOOK?token=$TOKEN
if [ ! -f "$NOTEBOOK" ]; then
  echo "demo.sh: warning: $NOTEBOOK does not exist yet; opening JupyterLab's file browser" >&2
  OPEN=$LAB_URL/lab?token=$TOKEN
fi
echo
echo "Hub server: $HUB_URL   (HUBMAGIC_ENDPOINT of the notebook's kernel)"
echo "Model cache: $CACHE   (TFHUB_CACHE_DIR)"
echo "Processes: hub server $HUB_PID, JupyterLab $LAB_PID"
echo "JupyterLab: $OPEN"
echo
echo "Open that URL in a browser. Press Ctrl-C to stop everything."

# Until Ctrl-C (the trap) or until one of them dies.
set +e
if [ "${BASH_VERSINFO[0]}${BASH_VERSINFO[1]}" -ge 51 ]; then
  wait -n "$HUB_PID" "$LAB_PID"
else # no `wait -n PID...` before bash 5.1
  while alive "$HUB_PID" && alive "$LAB_PID"; do sleep 1; done
fi
set -e
echo "demo.sh: error: the hub server or JupyterLab exited on its own; logs: $HUB_LOG, $LAB_LOG" >&2
exit 1
