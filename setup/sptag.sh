#!/usr/bin/env bash
# Set up Microsoft SPTAG (the SPANN search backend) in its own Python 3.9 venv.
#
# The `sptag` wheel on PyPI is built for CPython 3.9 only, so the spann backend runs
# SPTAG in a worker process (methods/backends/spann_worker.py) under this venv:
#   .venv-sptag/ at the repository root (or $IRGEN_SPTAG_VENV)
# Interpreter, first found: $IRGEN_SPTAG_PYTHON, python3.9 on PATH,
# $PYENV_ROOT/versions/3.9*/bin/python3.9, /root/.pyenv/versions/3.9*/bin/python3.9.
#
# Idempotent: does nothing when the venv already imports sptag. Exits 0 with a note when no
# Python 3.9 exists, and when sptag dies of an illegal instruction on this processor (every
# published wheel, 1.6.2 to 1.6.8, holds AVX-512 code: it runs on AVX-512 processors only); the
# spann backend then reports itself unavailable with the same reason.
# The wheel's libSPTAGLib.so also needs libnuma1, libzstd1 and libgomp1 from the system
# (Debian/Ubuntu: apt-get install libnuma1 libzstd1 libgomp1): without them it exits 1.
#
# setup/sptag.sh --check: only check the existing venv (exit 0: sptag loads; 3: unavailable on
# this processor; 1: missing or broken), saying why.
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

ILLEGAL_INSTRUCTION=132  # 128 + SIGILL: the exit status of a process killed by an illegal instruction

# evex_count FILE: how many AVX-512 (EVEX-encoded, first opcode byte 0x62) instructions objdump finds
evex_count() { objdump -d "$1" 2>/dev/null | awk -F'\t' 'NF >= 3 && $2 ~ /^62 /' | wc -l; }

# The one-line reason, from the backend itself (methods/backends/spann.py), so both say the same.
illegal_instruction_reason() {
    "$ROOT/.venv/bin/python" -c 'from methods.backends.spann import illegal_instruction; print(illegal_instruction())' \
        2>/dev/null || echo "sptag dies of an illegal instruction on this processor; spann is unavailable here"
}

# check_sptag: 0 when the worker imports sptag here; else says why and returns 3 for an illegal
# instruction (the wheel's code is for a newer processor), 1 for anything else (missing libraries).
check_sptag() {
    local out rc=0 site so
    [ -x "$VENV/bin/python" ] || { echo "sptag: no venv at $VENV" >&2; return 1; }
    out="$("$VENV/bin/python" "$WORKER" --check 2>&1)" || rc=$?
    [ "$rc" -ne 0 ] || return 0
    site="$(echo "$VENV"/lib/python3*/site-packages/sptag)"
    if [ "$rc" -eq "$ILLEGAL_INSTRUCTION" ]; then
        echo "sptag: $(illegal_instruction_reason)"
        if command -v objdump >/dev/null 2>&1; then
            for so in _SPTAG.so libSPTAGLib.so; do
                [ -f "$site/$so" ] && echo "sptag: objdump finds $(evex_count "$site/$so") AVX-512 (EVEX) instructions in $so"
            done
        fi
        return 3
    fi
    echo "sptag: the extension does not load (exit code $rc): $(echo "$out" | grep -v '^\s*$' | tail -1)" >&2
    if [ -f "$site/libSPTAGLib.so" ] && ldd "$site/libSPTAGLib.so" | grep "not found" >&2; then
        echo "sptag: missing system libraries (above); on Debian/Ubuntu: apt-get install libnuma1 libzstd1 libgomp1" >&2
    fi
    return 1
}

if [ "${1:-}" = "--check" ]; then
    rc=0
    check_sptag || rc=$?
    [ "$rc" -ne 0 ] || echo "sptag: loads in $VENV"
    exit "$rc"
fi

rc=0
check_sptag 2>/dev/null >/dev/null || rc=$?
case "$rc" in
    0) echo "sptag: already set up in $VENV"; exit 0 ;;
    3) check_sptag || true; exit 0 ;;  # installed, but this processor cannot run it: say why
esac

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

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "sptag: $VENV has no pip (a set-up interrupted while creating it?); recreating it"
    rm -rf "$VENV"
fi
echo "sptag: creating $VENV with $PYTHON"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "sptag==$SPTAG_VERSION" numpy

rc=0
check_sptag || rc=$?
case "$rc" in
    0) echo "sptag: ready ($VENV)" ;;
    3) exit 0 ;;  # said why: spann is unavailable on this processor, the rest is unaffected
    *) exit 1 ;;
esac
