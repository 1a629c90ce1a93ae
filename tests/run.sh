#!/usr/bin/env bash
# The whole test suite, from a fresh machine: creates the venv, installs
# hubmagic with its [tf,test,browser] extras and Debian's chromium (for the
# browser tests), then runs lint, types and pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k resolve -x`); the quick,
# TensorFlow-free lane is `bash tests/run.sh -m "not tf and not browser and not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${HUBMAGIC_TEST_VENV:-.venv}
# Colab's CPU/GPU images pin IPython 7.34.0, ipywidgets 7.7.1, tensorflow 2.20
# and tensorflow-hub 0.16.1, on Python 3.13 (since 2026-08-25). The
# notebook-facing tests run there too, in a second venv on the newest Python
# this machine has (3.13 where it has one: Debian 13, or pyenv; else e.g.
# Debian 12's 3.11). HUBMAGIC_COLAB_PYTHON picks another interpreter.
COLAB_VENV=${HUBMAGIC_COLAB_VENV:-.venv-ipy7}
COLAB_PINS=(
  "ipython==7.34.0" "ipywidgets==7.7.1"
  "tensorflow==2.20.*" "tensorflow-hub==0.16.1" "tf-keras==2.20.*"
)
# The wheel test runs there too: the hard dependencies (isal's wheel among them)
# install on that Python beside the pins, and the wheel works without TensorFlow.
COLAB_TESTS=(tests/ui/test_magics.py tests/ui/test_one_display.py tests/ui/test_widgets.py tests/ui/test_panel_dashboard.py tests/test_wheel.py)
# A frontend that renders ipywidgets 7.7.1, for tests/ui/test_frontends.py: the
# classic notebook's pages (nbclassic) with widgetsnbextension 3.6, which
# ipywidgets 7.7.1 requires; Playwright drives Debian's chromium as in the main
# venv. Notebook 7 is there anyway (widgetsnbextension 3.6 asks for notebook>=4.4.1)
# and cannot render ipywidgets 7: that test is an expected failure there.
# Not used: notebook<7 (6.5.7) pins jupyter_client<8, whose 7.4 warns on import
# on Python 3.13 (an error under pytest's filterwarnings); JupyterLab 3.6 needs
# y-py 0.6, which has no Python 3.13 wheel (its sdist builds only online, with Rust).
COLAB_FRONTEND=("notebook>=7" "nbclassic>=1.0" "playwright>=1.40" "nbclient>=0.7")
COLAB_TESTS+=(tests/ui/test_frontends.py)

pip_install() {
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"
}

# The newest final-release CPython 3.10+ that can make a venv with pip:
# python3.N on PATH (a pyenv shim for a version that is not selected fails
# to run and is skipped), /usr/bin/python3.N, and every pyenv version.
newest_python() {
  local best="" best_key=0 cand key
  local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  local candidates=("$PYTHON")
  for minor in $(seq 10 20); do
    candidates+=("python3.$minor" "/usr/bin/python3.$minor" "/usr/local/bin/python3.$minor")
  done
  candidates+=("$pyenv_root"/versions/3.*/bin/python3)
  for cand in "${candidates[@]}"; do
    key=$("$cand" -c 'import sys, venv, ensurepip
v = sys.version_info
ok = v.releaselevel == "final" and v >= (3, 10) and sys.implementation.name == "cpython"
print(v.major * 10000 + v.minor * 100 + v.micro if ok else 0)' 2>/dev/null) || continue
    if [ "$key" -gt "$best_key" ]; then
      best_key=$key
      best=$(command -v "$cand")
    fi
  done
  echo "${best:-$PYTHON}"
}
COLAB_PYTHON=${HUBMAGIC_COLAB_PYTHON:-$(newest_python)}

py_minor() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

make_venv() {  # venv python: (re)creates venv when missing or on another Python
  local venv=$1 python=$2
  if [ -x "$venv/bin/python" ] && [ "$(py_minor "$venv/bin/python")" != "$(py_minor "$python")" ]; then
    echo "== $venv has Python $(py_minor "$venv/bin/python"), wanted $(py_minor "$python"): recreating it"
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv with $("$python" --version) ($python)"
    "$python" -m venv "$venv"
    pip_install "$venv" --upgrade pip
  fi
}
make_venv "$VENV" "$(command -v "$PYTHON")"
make_venv "$COLAB_VENV" "$COLAB_PYTHON"
echo "== installing hubmagic[tf,test,browser] into $VENV"
pip_install "$VENV" -e '.[tf,test,browser]'
# The browser tests (tests/ui/test_browser.py) drive Debian's chromium through
# Playwright; Playwright's own browser download (`playwright install`) is never
# used. Without chromium those tests fail, saying what to install.
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
  else
    echo "== $CHROMIUM is missing and this is not root: not installing it;" \
      "tests/ui/test_browser.py will FAIL (as root: apt-get install chromium)" >&2
  fi
fi
echo "== installing hubmagic[tf,test] with ${COLAB_PINS[*]} ${COLAB_FRONTEND[*]} into $COLAB_VENV"
pip_install "$COLAB_VENV" "${COLAB_PINS[@]}" "${COLAB_FRONTEND[@]}" -e '.[tf,test]'

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
echo "== pytest on Colab's pins, Python $(py_minor "$COLAB_VENV/bin/python"): ${COLAB_PINS[*]}"
# The same selection (e.g. the quick lane's -m) on the notebook-facing tests;
# a selection that leaves none of them is not a failure (pytest's exit 5).
status=0
"$COLAB_VENV/bin/python" -m pytest -p no:cacheprovider "${COLAB_TESTS[@]}" "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
  exit "$status"
fi
