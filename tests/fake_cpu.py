"""A processor this machine is not: a fake /proc/cpuinfo (``$IRGEN_CPUINFO`` points at it), and a
fake SPTAG venv whose interpreter dies of SIGILL as the AVX-512 wheel does on an AVX2 processor."""
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

AVX2_REASON = "sptag's wheel needs AVX-512 (this processor has AVX2 only); spann is unavailable here"


def fake_sptag_venv(folder: Path, script: str = "kill -ILL $$") -> Path:
    """A venv folder laid out as setup/sptag.sh leaves it, whose python runs ``script``
    (by default it dies of SIGILL, as sptag's AVX-512 wheel does on an AVX2 processor)."""
    venv = folder / "venv-sptag"
    package = venv / "lib" / "python3.9" / "site-packages" / "sptag"
    package.mkdir(parents=True)
    (package / "_SPTAG.so").write_bytes(b"")
    python = venv / "bin" / "python"
    python.parent.mkdir()
    python.write_text(f"#!/bin/sh\necho '[1] Using AVX2 InstructionSet!' >&2\n{script}\n")
    python.chmod(0o755)
    return venv


def on_an_avx2_processor(monkeypatch, folder: Path) -> Path:
    """Every process started from here on sees an AVX2 processor and SPTAG's AVX-512 wheel; the venv."""
    from methods.backends import spann

    venv = fake_sptag_venv(folder)
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(folder, AVX2_FLAGS)))
    monkeypatch.setenv("IRGEN_SPTAG_VENV", str(venv))
    spann.load_check.cache_clear()
    return venv
