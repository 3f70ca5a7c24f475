#!/usr/bin/env bash
# Every table and figure for every dataset present; the embedded default when none is.
#   ./run_all.sh            the full grid
#   ./run_all.sh --quick    the short grid (about 30 minutes on 2 CPU cores)
# Other flags (--data-root DIR, --weights DIR, --device cuda, --force) pass through.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
exec .venv/bin/python -m bench.grid "$@"
