#!/usr/bin/env bash
# Installs the project into a virtualenv: the locked dependency set, then the project itself.
# `make install`, the Dockerfile and tests/test_deploy.py all install through these lines.
#
#   deploy/install.sh dependencies VENV LOCK_FILE   # creates VENV if missing
#   deploy/install.sh project VENV PROJECT_DIR      # a regular install, for the image
#   deploy/install.sh develop VENV PROJECT_DIR      # an editable install, for a checkout
#
# uv installs (pinned here, fetched by the machine's pip): it downloads in parallel and links
# from its cache, so the lock installs in about 25 s where pip takes about 2 min, and a second
# virtualenv on the same machine in seconds. UV_NO_CACHE=1 (the Dockerfile) keeps no cache.
set -euo pipefail

UV_VERSION=0.13.9
usage="usage: $0 dependencies VENV LOCK_FILE | project VENV PROJECT_DIR | develop VENV PROJECT_DIR"
step=${1:?$usage}
venv=${2:?$usage}
source=${3:?$usage}
# --compile-bytecode as pip does: an image's virtualenv is not writable by the user who runs it.
uv=("$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-deps --compile-bytecode)

case "$step" in
  dependencies)
    [ -f "$source" ] || { echo "$0: no lock file at $source" >&2; exit 2; }
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    [ "$("$venv/bin/uv" --version 2>/dev/null)" = "uv $UV_VERSION" ] \
      || "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "uv==$UV_VERSION"
    # --no-deps: the lock already lists every package. (TFX 1.16 declares Requires-Python <3.11
    # although the whole locked set runs on 3.11; uv installs the pins as they are.)
    "${uv[@]}" -r "$source"
    ;;
  project|develop)
    [ -f "$source/pyproject.toml" ] || { echo "$0: no pyproject.toml in $source" >&2; exit 2; }
    # setuptools comes from the lock, so the build needs no download. The image gets a regular
    # install (it holds no source tree to point back to), a checkout an editable one.
    "${uv[@]}" --no-build-isolation $([ "$step" = develop ] && echo --editable) "$source"
    if [ "$step" = develop ]; then
      # The checkout's own modules, compiled once: where PYTHONDONTWRITEBYTECODE is set (as on
      # these machines) every process, each task's included, compiled them from source again.
      # A module edited since is recompiled as before: Python checks each file's time and size.
      "$venv/bin/python" -m compileall -q "$source/pipeline" "$source/components" "$source/dags" >/dev/null
    fi
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
