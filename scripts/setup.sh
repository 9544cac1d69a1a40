#!/usr/bin/env bash
# Set up napari-microns in ./.venv: Python packages from PyPI and, when run as
# root on Debian/Ubuntu, the system libraries Qt and Xvfb need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "napari-microns needs Python >= 3.10 (found $("$PY" --version 2>&1))" >&2
    exit 1
fi

# System packages: a virtual display (Xvfb) and the X/GL libraries PyQt6 loads.
APT_PACKAGES="xvfb xauth libgl1 libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-shape0"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    missing=""
    for p in $APT_PACKAGES; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "installing system packages:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
elif ! command -v Xvfb >/dev/null 2>&1; then
    echo "note: Xvfb is not installed; rendering without a display (tests, --screenshot) needs it" >&2
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
echo "napari-microns is set up in $(pwd)/.venv"
