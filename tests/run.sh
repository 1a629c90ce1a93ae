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
# Colab pins IPython 7.34 and ipywidgets 7.7.1; the notebook-facing tests run
# there too, in a second venv on the same Python (3.11 here; Colab has 3.12).
COLAB_VENV=${HUBMAGIC_COLAB_VENV:-.venv-ipy7}
COLAB_PINS=("ipython==7.34.0" "ipywidgets==7.7.1")
COLAB_TESTS=(tests/ui/test_magics.py tests/ui/test_widgets.py)

pip_install() {
  "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"
}

for venv in "$VENV" "$COLAB_VENV"; do
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv with $($PYTHON --version)"
    "$PYTHON" -m venv "$venv"
    pip_install "$venv" --upgrade pip
  fi
done
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
echo "== installing hubmagic[tf,test] with ${COLAB_PINS[*]} into $COLAB_VENV"
pip_install "$COLAB_VENV" "${COLAB_PINS[@]}" -e '.[tf,test]'

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
echo "== pytest on Colab's pins: ${COLAB_PINS[*]}"
# The same selection (e.g. the quick lane's -m) on the notebook-facing tests;
# a selection that leaves none of them is not a failure (pytest's exit 5).
status=0
"$COLAB_VENV/bin/python" -m pytest -p no:cacheprovider "${COLAB_TESTS[@]}" "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
  exit "$status"
fi
