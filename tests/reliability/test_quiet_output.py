"""What a user sees besides errors: no library noise. faiss's loader logs, at INFO, a
ModuleNotFoundError for every optional CPU build it does not find (AVX512, AVX2)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.e2e  # a fresh interpreter

LOAD_FAISS_UNDER_INFO_LOGGING = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # as every command line sets it
from methods.backends.base import BackendUnavailable
from methods.backends.faiss_common import load_faiss
try:
    load_faiss("ivfpq")
except BackendUnavailable:
    sys.exit(3)
"""


def test_loading_faiss_logs_nothing_about_missing_optional_builds():
    done = subprocess.run([sys.executable, "-c", LOAD_FAISS_UNDER_INFO_LOGGING], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    if done.returncode == 3:
        pytest.skip("faiss is not installed here")
    assert done.returncode == 0, done.stderr
    assert "ModuleNotFoundError" not in done.stderr and "faiss.loader" not in done.stderr, done.stderr
