"""What a result depends on: config, seed, code version, data, packages, hardware."""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import secrets
import subprocess
from pathlib import Path

from methods.runtime.hardware import processor

PACKAGES = ("torch", "torchvision", "numpy", "faiss-cpu", "faiss-cuda", "scann", "open_clip_torch", "timm",
            "efficientnet-lite-pytorch", "diskannpy")


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def git_version(repo: Path = Path(__file__).resolve().parents[2]) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain", "-uno"))}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    versions["python"] = platform.python_version()
    return versions


def hardware(device: str = "cpu") -> dict:
    """The machine: processor (model, SIMD level, torch's threads, BLAS and CPU kernels), memory, GPU."""
    info = {"machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count(),
            **processor(), "device": device}
    if device.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                info["gpu"] = torch.cuda.get_device_name(0)
        except ImportError:
            pass
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return info


def device_words(hw: dict, threads: bool = False) -> str:
    """A manifest's ``hardware`` in words: the GPU's name, or the CPU's with its SIMD level and core
    count (and, with ``threads``, torch's thread count and BLAS)."""
    if hw.get("gpu"):
        return hw["gpu"]
    details = [hw["simd"]] if hw.get("simd") else []
    details.append(f"{hw.get('cpus', '?')} CPUs")
    if threads:
        details.append(f"{hw.get('torch_threads', '?')} torch threads")
        if hw.get("blas"):
            details.append(f"BLAS {hw['blas']}" + (f", kernels {hw['torch_cpu_capability']}"
                                                     if hw.get("torch_cpu_capability") else ""))
    return f"{hw.get('cpu_model', 'CPU')} ({', '.join(details)})"
