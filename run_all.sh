#!/usr/bin/env bash
# Every table and figure for every dataset present; the embedded default when none is.
#   ./run_all.sh            the full grid
#   ./run_all.sh --quick    the short grid: 13 min 22 s after set-up in a fresh clone on 2 idle CPU cores
#                           (AMD EPYC with AVX-512, 2026-12-06)
# Other flags (--data-root DIR, --weights DIR, --device cuda, --jobs N, --force) pass through.
# Ends with reports/ (and reports/site/screenshot.png where Debian's chromium is installed).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
status=0
.venv/bin/python -m bench.grid "$@" || status=$?
if [ -f reports/site/index.html ] && [ -x /usr/bin/chromium ]; then
  .venv/bin/python -m bench.report.screenshot >/dev/null \
    || echo "run_all: NOTE: the site's screenshot could not be taken (see above); reports/ is complete" >&2
fi
exit "$status"
