"""The registry: names, lazy imports, and the messages when a library is missing."""
from __future__ import annotations

import re
import sys

import pytest

from methods.backends import BACKENDS, BackendUnavailable, make_backend


def test_every_backend_is_registered():
    assert list(BACKENDS) == ["linear", "faiss-flat", "ivfpq", "scann", "spann", "hnsw", "diskann"]
    with pytest.raises(KeyError, match="choose one of"):
        make_backend("annoy")


@pytest.mark.parametrize("name,module,extra", [("faiss-flat", "faiss", ".[cpu]"), ("ivfpq", "faiss", ".[cpu]"),
                                               ("scann", "scann", ".[ann]"), ("hnsw", "faiss", ".[cpu]")])
def test_missing_library_names_the_pip_extra(monkeypatch, name, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(BackendUnavailable, match=re.escape(f"pip install -e {extra}")):
        make_backend(name)


def test_diskann_without_diskannpy_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "diskannpy", None)
    with pytest.raises(BackendUnavailable, match=re.escape("pip install --no-deps diskannpy==0.7.0")):
        make_backend("diskann")


def test_spann_without_its_venv_says_how_to_set_it_up(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_SPTAG_VENV", str(tmp_path / "absent"))
    with pytest.raises(BackendUnavailable, match="setup/sptag.sh"):
        make_backend("spann")


def test_unknown_parameters_are_named():
    with pytest.raises(ValueError, match="Ratioo"):
        try:
            make_backend("spann", Ratioo=0.1)
        except BackendUnavailable:
            pytest.skip("spann unavailable here")
    with pytest.raises(ValueError, match="unknown metric"):
        make_backend("linear", metric="hamming")
