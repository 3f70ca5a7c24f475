"""The registry: names, lazy imports, and the messages when a library is missing."""
from __future__ import annotations

import re
import sys
import typing

import pytest

from methods.backends import BACKENDS, BackendUnavailable, backend_class, make_backend
from methods.base import HarnessError


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


@pytest.mark.e2e
def test_unknown_parameters_are_named():
    with pytest.raises(HarnessError, match="no build parameter 'Ratioo'; it takes: .*Ratio: float"):
        make_backend("spann", Ratioo=0.1)  # refused before SPTAG is looked for
    with pytest.raises(ValueError, match="unknown metric"):
        make_backend("linear", metric="hamming")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_declares_typed_build_parameters(name):
    """From its ``__init__``: no catch-all, each parameter a name, a type and a default."""
    declared = backend_class(name).build_param_types()
    assert all(p.kind in (int, float, str, bool) or typing.get_origin(p.kind) is typing.Literal
               for p in declared.values())
    defaults = {k: p.default for k, p in declared.items()}
    assert backend_class(name).checked_build_params(defaults) == defaults  # the defaults pass their own check


def test_build_parameters_are_converted_by_their_declared_type():
    ivfpq = backend_class("ivfpq")
    assert ivfpq.checked_build_params({"nlist": "300", "M": 8.0, "refine_factor": "0"}) == \
        {"nlist": 300, "M": 8, "refine_factor": 0}
    assert ivfpq.checked_build_params({"nlist": "none"}) == {"nlist": None}
    assert backend_class("spann").checked_build_params({"Ratio": "1", "MaxDistRatio": 4}) == \
        {"Ratio": 1.0, "MaxDistRatio": 4.0}
    for bad in ({"nlist": "abc"}, {"M": 2.5}, {"M": True}, {"M": None}):
        with pytest.raises(HarnessError, match="it takes: nlist: int or None, M: int, nbits: int, refine_factor: int"):
            ivfpq.checked_build_params(bad)
    with pytest.raises(HarnessError, match="mode is auto|brute|ah|tree"):
        backend_class("scann").checked_build_params({"mode": "fast"})
