"""The processor a run is on: its model, its SIMD level, and how torch uses it.

Read from ``/proc/cpuinfo`` on Linux (``$IRGEN_CPUINFO`` names another file: the tests give a
fake one to stand for a processor this machine is not); elsewhere the model is
``platform.processor()`` and the SIMD level ``unknown``. The manifests' hardware block and
the SPANN backend's "needs AVX-512" check both read it here.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = "/proc/cpuinfo"
# the highest level a processor's flags reach, first match wins
SIMD_LEVELS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"))
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile")


def cpuinfo_text() -> str:
    """The text of /proc/cpuinfo (or of ``$IRGEN_CPUINFO``); "" where there is none."""
    try:
        return Path(os.environ.get("IRGEN_CPUINFO") or CPUINFO).read_text(errors="replace")
    except OSError:
        return ""


def _field(name: str) -> str:
    for line in cpuinfo_text().splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def cpu_flags() -> set[str]:
    """The first processor's feature flags (empty where unknown)."""
    return set(_field("flags").split())


def cpu_model() -> str:
    return _field("model name") or platform.processor() or "unknown"


def simd_level(flags: set[str] | None = None) -> str:
    """``AVX-512``, ``AVX2``, ... (the highest the flags reach), or ``unknown`` without flags."""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return "unknown"
    return next((level for flag, level in SIMD_LEVELS if flag in flags), "below SSE4.2")


def has_avx512() -> bool:
    return "avx512f" in cpu_flags()


def torch_cpu() -> dict:
    """How torch computes on this processor: its thread count, its BLAS and the CPU kernel
    level it picked (``ATEN_CPU_CAPABILITY`` lowers it); {} without torch."""
    try:
        import torch
    except ImportError:
        return {}
    info = {"torch_threads": torch.get_num_threads(), "blas": torch_blas(torch)}
    try:
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch < 2.0
        pass
    return info


def torch_blas(torch) -> str:
    config = torch.__config__.show()
    for line in config.splitlines():
        if "BLAS_INFO=" in line:
            return line.split("BLAS_INFO=", 1)[1].split(",", 1)[0].strip() or "unknown"
    return "mkl" if torch.backends.mkl.is_available() else "unknown"


def processor() -> dict:
    """The processor block of a manifest: model, SIMD level, its vector flags, and torch's use of it."""
    flags = cpu_flags()
    return {"cpu_model": cpu_model(), "simd": simd_level(flags),
            "simd_flags": " ".join(f for f in SIMD_FLAGS if f in flags), **torch_cpu()}
