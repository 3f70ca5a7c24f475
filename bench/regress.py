"""The CI guard on metrics: a small, seeded slice of the grid on the embedded stand-in
(scikit-learn's digits, identical on every machine) against a committed baseline.

    python -m bench.regress            # run the slice, fail if a metric fell beyond its tolerance
    python -m bench.regress --update   # rewrite the baseline on purpose (commit the change)

A metric may rise freely; it fails when ``value < baseline - tolerance``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from . import run as run_cell
from .results import ResultStore

BASELINE = Path(__file__).resolve().parent.parent / "tests" / "regression" / "baseline.yaml"
COMMON = ["--dataset", "digits", "--seed", "0", "--k", "1,5", "--no-progress"]
SLICE = {
    "smallcnn/linear": ["--method", "smallcnn", "--set", "train.epochs=2"],
    "effnet/ivfpq": ["--method", "effnet", "--backend", "ivfpq", "--set", "image_size=64"],
    "irgen/beam": ["--method", "irgen", "--beam", "1,5", "--set", "tokenizer.train.epochs=10", "--set", "train.epochs=15"],
}
GUARDED = [("precision", 1), ("precision", 5), ("recall", 5), ("mrr", 5)]
TOLERANCE = 0.03  # absolute; the slice is seeded, the margin absorbs BLAS differences between machines


def measure(workdir: Path, cells: list[str] | None = None) -> dict[str, float]:
    """Run the slice (or its ``cells``) into ``workdir``; {"<cell> <setting> <metric>@<k>": value}."""
    values = {}
    for name in cells or SLICE:
        argv = SLICE[name]
        results = workdir / name.replace("/", "-")
        code = run_cell.main([*argv, *COMMON, "--results", str(results), "--cache", str(workdir / "cache")])
        if code != 0:
            raise RuntimeError(f"regression slice {name}: bench.run exited {code}")
        table = ResultStore(results).load()
        for metric, k in GUARDED:
            rows = table[(table.metric == metric) & (table.k == k)]
            for setting, value in zip(rows.setting, rows.value):
                values[f"{name} {setting} {metric}@{k}"] = round(float(value), 4)
    return values


def compare(values: dict[str, float], baseline: dict) -> list[str]:
    """One line per guarded metric that fell beyond its tolerance or is missing."""
    failures = []
    for key, entry in sorted(baseline.items()):
        if key not in values:
            failures.append(f"{key}: missing from this run (baseline {entry['value']:.4f})")
        elif values[key] < entry["value"] - entry["tolerance"]:
            failures.append(f"{key}: {values[key]:.4f} < baseline {entry['value']:.4f} - {entry['tolerance']}")
    return failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.regress", description=__doc__.splitlines()[0])
    p.add_argument("--update", action="store_true", help="rewrite the baseline from this run")
    p.add_argument("--workdir", type=Path, help="keep the slice's results and cache here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        values = measure(args.workdir or Path(tmp))
    if args.update:
        baseline = {key: {"value": v, "tolerance": TOLERANCE} for key, v in sorted(values.items())}
        BASELINE.write_text("# Written by `python -m bench.regress --update`: the regression slice's metrics.\n"
                            + yaml.safe_dump(baseline, sort_keys=True))
        print(f"baseline written: {BASELINE} ({len(baseline)} metrics)")
        return 0
    failures = compare(values, yaml.safe_load(BASELINE.read_text()))
    for line in failures:
        print(f"REGRESSION {line}", file=sys.stderr)
    print(f"{len(values) - len(failures)} of {len(values)} guarded metrics within tolerance")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
