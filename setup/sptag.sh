#!/usr/bin/env bash
# Set up Microsoft SPTAG (the SPANN search backend) in its own Python 3.9 venv.
#
# The `sptag` wheel on PyPI is built for CPython 3.9 only, so the spann backend runs
# SPTAG in a worker process (methods/backends/spann_worker.py) under this venv:
#   .venv-sptag/ at the repository root (or $IRGEN_SPTAG_VENV)
# Interpreter, first found: $IRGEN_SPTAG_PYTHON, python3.9 on PATH,
# $PYENV_ROOT/versions/3.9*/bin/python3.9, /root/.pyenv/versions/3.9*/bin/python3.9.
#
# Idempotent: does nothing when the venv already imports sptag. Exits 0 with a note
# when no Python 3.9 exists (the spann backend then reports itself unavailable).
# The wheel's libSPTAGLib.so also needs libnuma1, libzstd1 and libgomp1 from the
# system (Debian/Ubuntu: apt-get install libnuma1 libzstd1 libgomp1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IRGEN_SPTAG_VENV:-$ROOT/.venv-sptag}"
WORKER="$ROOT/methods/backends/spann_worker.py"
SPTAG_VERSION="${IRGEN_SPTAG_VERSION:-1.6.8}"

is_py39() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; }

find_python() {
    local candidate
    for candidate in "${IRGEN_SPTAG_PYTHON:-}" "$(command -v python3.9 2>/dev/null || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9 /root/.pyenv/versions/3.9*/bin/python3.9; do
        if [ -n "$candidate" ] && is_py39 "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

sptag_works() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" "$WORKER" --check >/dev/null 2>&1; }

if sptag_works; then
    echo "sptag: already set up in $VENV"
    exit 0
fi

if ! PYTHON="$(find_python)"; then
    echo "sptag: no Python 3.9 found (set IRGEN_SPTAG_PYTHON, or put python3.9 on PATH); skipping." \
         "The spann backend stays unavailable, the other backends are unaffected."
    exit 0
fi

if [ -e "$VENV" ] && ! is_py39 "$VENV/bin/python"; then
    if [ -f "$VENV/pyvenv.cfg" ]; then
        echo "sptag: $VENV is not a Python 3.9 venv; recreating it"
        rm -rf "$VENV"
    else
        echo "sptag: $VENV exists and is not a venv; move it away or set IRGEN_SPTAG_VENV" >&2
        exit 1
    fi
fi

echo "sptag: creating $VENV with $PYTHON"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "sptag==$SPTAG_VERSION" numpy

if ! "$VENV/bin/python" "$WORKER" --check; then
    echo "sptag: installed, but the extension does not load. Missing system libraries:" >&2
    ldd "$VENV"/lib/python3.9/site-packages/sptag/libSPTAGLib.so | grep "not found" >&2 || true
    echo "sptag: on Debian/Ubuntu: apt-get install libnuma1 libzstd1 libgomp1" >&2
    exit 1
fi
echo "sptag: ready ($VENV)"
