#!/usr/bin/env bash
# One-time (and idempotent) set-up: the Python 3.11 venv with every dependency, the
# embedded Fashion-MNIST dataset, Chromium for the site's browser tests, and the Python 3.9
# worker venv for SPANN (SPTAG).
# A second run reuses all of it: pip is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"

find_python311() {
  for py in "${IRGEN_PYTHON:-}" python3.11 /root/.pyenv/versions/3.11*/bin/python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  echo "setup: .venv has no pip (a set-up interrupted while creating it?); recreating it"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  py=$(find_python311) || { echo "setup: Python 3.11 not found; install it or set IRGEN_PYTHON=/path/to/python3.11" >&2; exit 1; }
  echo "setup: creating .venv with $py"
  "$py" -m venv .venv
fi

stamp=.venv/.irgen-installed
want=$(cat pyproject.toml setup.sh | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python dependencies (torch and torchvision come from this machine's local wheels)"
  free_gb=$(df -Pk . | awk 'NR == 2 {printf "%d", $4 / 1048576}')
  if [ ! -d .venv/lib/python3.11/site-packages/torch ] && [ "${free_gb:-99}" -lt 7 ]; then
    echo "setup: NOTE: $free_gb GB free on $(df -P . | awk 'NR == 2 {print $6}'); .venv takes about 6.5 GB" \
         "(torch's CUDA build): free some space if pip fails with 'No space left on device'" >&2
  fi
  # torch/torchvision pinned here as well as in pyproject.toml so pip takes the local 2.14 wheels.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch>=2.14,<2.15" "torchvision>=0.29,<0.30" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[cpu,ann,models,dev]" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  # the diskann backend's library, without its pin of numpy 1.25 (see pyproject.toml); optional
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "diskannpy==0.7.0" >/dev/null 2>&1; then
    echo "setup: NOTE: diskannpy did not install; diskann cells will be reported as unavailable"
  fi
  .venv/bin/python -c "import torch, torchvision, faiss, bench, datasets, methods" \
    || { echo "setup: the Python dependencies did not install; see pip's messages above" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# apt_install WITHOUT PKG...: install the Debian packages not installed yet (a second run checks
# and skips them); WITHOUT says what goes missing when apt cannot.
apt_install() {
  local without=$1 missing="" pkg
  shift
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  [ -n "$missing" ] || return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: apt-get install$missing"
    # shellcheck disable=SC2086
    (apt-get install -y -qq $missing >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $missing >/dev/null 2>&1; }) \
      || echo "setup: NOTE: apt-get could not install$missing ($without)"
  else
    echo "setup: NOTE: not installed:$missing, and apt-get is not available here as root ($without)"
  fi
}

# The embedded dataset (Debian's dataset-fashion-mnist; without it the embedded default falls
# back to scikit-learn's digits) and the libraries SPTAG links to.
apt_install "the embedded default falls back to scikit-learn's digits; spann may be unavailable" \
  dataset-fashion-mnist libnuma1 libzstd1 libgomp1
# objdump (binutils): sptag.sh names the AVX-512 instructions of a wheel this processor cannot run.
apt_install "set-up cannot count the AVX-512 instructions in SPTAG's wheel" binutils
# Chromium for the results site's browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser of its own).
apt_install "the browser tests of reports/site/ are skipped" chromium

if [ -x setup/sptag.sh ]; then
  setup/sptag.sh || echo "setup: NOTE: the SPANN (SPTAG) worker could not be set up (sptag's lines above say why);" \
    "spann cells will be reported as unavailable"
fi
echo "setup: ready"
