"""A fake /proc/cpuinfo for a processor this machine is not (``$IRGEN_CPUINFO`` points at it)."""
from __future__ import annotations

from pathlib import Path

AVX2_FLAGS = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2"
AVX512_FLAGS = AVX2_FLAGS + " avx512f avx512dq avx512bw avx512vl"


def fake_cpuinfo(folder: Path, flags: str = AVX2_FLAGS, model: str = "AMD EPYC 7B13") -> Path:
    """Two processors' worth of cpuinfo with ``flags``; the file's path."""
    block = f"processor\t: {{}}\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\nflags\t\t: {flags}\n\n"
    path = folder / "cpuinfo"
    path.write_text(block.format(0) + block.format(1))
    return path
