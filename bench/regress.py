"""The CI guard on metrics: a small, seeded slice of the grid on the embedded stand-in
(scikit-learn's digits, identical on every machine) against the baseline beside this module
(``bench/regress_baseline.yaml``).

    python -m bench.regress            # run the slice, fail if a metric moved beyond its tolerance
    python -m bench.regress --update   # rewrite the baseline on purpose (the reason goes in the commit)

A metric fails when ``|value - baseline| > tolerance``, whichever way it moved: an inflated
metric is as much a bug as a fallen one. Guarded: P@K and the official rule's P_off@K (K = 1, 5),
R@5, MRR@5, and MAP@100 under both conventions (``map``, ``map_found``), the numbers the paper's
tables print. Each entry's tolerance covers the float rounding of different processors (Intel
AVX-512, AMD AVX2); ``--update`` rewrites the values and keeps each tolerance.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from . import run as run_cell
from .results import ResultStore

BASELINE = Path(__file__).with_name("regress_baseline.yaml")
COMMON = ["--dataset", "digits", "--seed", "0", "--k", "1,5", "--no-progress"]
SLICE = {
    "smallcnn/linear": ["--method", "smallcnn", "--set", "train.epochs=2"],
    "effnet/ivfpq": ["--method", "effnet", "--backend", "ivfpq", "--set", "image_size=64"],
    "irgen/beam": ["--method", "irgen", "--beam", "1,5", "--set", "tokenizer.train.epochs=10", "--set", "train.epochs=15"],
}
GUARDED = [("precision", 1), ("precision", 5), ("precision_official", 1), ("precision_official", 5),
           ("recall", 5), ("mrr", 5), ("map", 100), ("map_found", 100)]
NEW_TOLERANCE = 0.03  # absolute, for a metric the baseline does not guard yet; then set from two processors' runs
HEADER = ("# Written by `python -m bench.regress --update`: the regression slice's metrics. Each tolerance\n"
          "# covers two processors' float rounding with margin: twice the largest deviation of its cell's\n"
          "# metrics seen on Intel AVX-512 and under ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2\n"
          "# ONEDNN_MAX_CPU_ISA=AVX2 FAISS_OPT_LEVEL=avx2, at least 0.01; --update keeps it. Change a value\n"
          "# only on purpose, with the reason in the commit.\n")


def measure(workdir: Path, cells: list[str] | None = None, cache: Path | None = None) -> dict[str, float]:
    """Run the slice (or its ``cells``) into ``workdir`` (models and features cached in ``cache``,
    default ``workdir/cache``); {"<cell> <setting> <metric>@<k>": value}."""
    values = {}
    for name in cells or SLICE:
        argv = SLICE[name]
        results = workdir / name.replace("/", "-")
        code = run_cell.main([*argv, *COMMON, "--results", str(results), "--cache", str(cache or workdir / "cache")])
        if code != 0:
            raise RuntimeError(f"regression slice {name}: bench.run exited {code}")
        table = ResultStore(results).load()
        for metric, k in GUARDED:
            rows = table[(table.metric == metric) & (table.k == k)]
            for setting, value in zip(rows.setting, rows.value):
                values[f"{name} {setting} {metric}@{k}"] = round(float(value), 4)
    return values


def compare(values: dict[str, float], baseline: dict) -> list[str]:
    """One line per guarded metric that moved beyond its tolerance, either way, or is missing."""
    failures = []
    for key, entry in sorted(baseline.items()):
        expected, tolerance = entry["value"], entry["tolerance"]
        if key not in values:
            failures.append(f"{key}: missing from this run (baseline {expected:.4f})")
            continue
        moved = round(values[key] - expected, 4)  # both sides have 4 decimals: no float noise at the edge
        if abs(moved) > tolerance:
            way = "rose" if moved > 0 else "fell"
            failures.append(f"{key}: {way} by {abs(moved):.4f} to {values[key]:.4f} "
                            f"(baseline {expected:.4f}, tolerance {tolerance})")
    return failures


def load_baseline(path: Path = BASELINE) -> dict:
    return yaml.safe_load(path.read_text())


def updated(values: dict[str, float], baseline: dict) -> dict:
    """The baseline rewritten from ``values``: every metric this run guards, each keeping its tolerance."""
    return {key: {"value": value, "tolerance": baseline.get(key, {}).get("tolerance", NEW_TOLERANCE)}
            for key, value in sorted(values.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.regress", description=__doc__.splitlines()[0])
    p.add_argument("--update", action="store_true",
                   help="rewrite the baseline's values from this run (on purpose; give the reason in the commit)")
    p.add_argument("--workdir", type=Path, help="keep the slice's results and cache here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        values = measure(args.workdir or Path(tmp))
    baseline = load_baseline()
    failures = compare(values, baseline)
    if args.update:
        BASELINE.write_text(HEADER + yaml.safe_dump(updated(values, baseline), sort_keys=True))
        for line in failures:
            print(f"updated {line}")
        print(f"baseline written: {BASELINE} ({len(values)} metrics, {len(failures)} moved beyond their tolerance)")
        return 0
    for line in failures:
        print(f"GUARD {line}", file=sys.stderr)
    print(f"{len(baseline) - len(failures)} of {len(baseline)} guarded metrics within tolerance")
    if failures:
        print("a move on purpose: python -m bench.regress --update, with the reason in the commit", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
