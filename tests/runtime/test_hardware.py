"""The processor in the record: model, SIMD level, torch's threads, BLAS and kernels."""
from __future__ import annotations

import torch

from bench.results.manifest import device_words, hardware
from methods.runtime import hardware as hw

from tests.fake_cpu import AVX2_FLAGS, AVX512_FLAGS, fake_cpuinfo


def test_an_avx2_processor_reads_as_avx2(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(tmp_path, AVX2_FLAGS)))
    assert hw.cpu_model() == "AMD EPYC 7B13"
    assert hw.simd_level() == "AVX2" and not hw.has_avx512()
    assert hw.processor()["simd_flags"] == "sse4_2 avx avx2 fma"


def test_an_avx512_processor_reads_as_avx512(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(tmp_path, AVX512_FLAGS, model="Intel Xeon")))
    assert hw.simd_level() == "AVX-512" and hw.has_avx512()
    assert "avx512f" in hw.processor()["simd_flags"].split()


def test_without_cpuinfo_the_level_is_unknown_not_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_CPUINFO", str(tmp_path / "absent"))
    assert hw.cpu_flags() == set() and hw.simd_level() == "unknown" and not hw.has_avx512()
    assert hw.cpu_model()  # platform.processor() or "unknown"


def test_the_manifest_names_processor_simd_threads_and_blas(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(tmp_path, AVX2_FLAGS)))
    block = hardware()
    assert block["cpu_model"] == "AMD EPYC 7B13" and block["simd"] == "AVX2"
    assert block["torch_threads"] == torch.get_num_threads()
    assert block["blas"] == ("mkl" if torch.backends.mkl.is_available() else block["blas"]) and block["blas"]
    assert block["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    words = device_words(block, threads=True)
    assert words.startswith("AMD EPYC 7B13 (AVX2, ") and f"{torch.get_num_threads()} torch threads" in words
    assert f"BLAS {block['blas']}" in words and block["torch_cpu_capability"] in words
