"""The grid: ``python -m bench.grid [--quick] [--data-root DIR] [...]`` runs every cell of
the grid configs (``configs/grids/*.yaml``) for every dataset that is present, the
embedded default when none is, skipping cells already in ``results/``, then rebuilds
``reports/`` from ``results/``.

A grid file lists cells; a list value expands into one ``bench.run`` call per value,
except ``beam`` and ``k``, which one call sweeps::

    datasets: [cub200]
    defaults: {k: [1, 2, 4, 8]}
    cells:
      - {method: effnet, backend: [linear, ivfpq]}
      - {method: irgen, beam: [1, 10, 20, 30]}
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path

import yaml

from datasets import DatasetError, load_dataset
from methods.base import HarnessError

from . import run as run_cell

log = logging.getLogger("bench.grid")

GRIDS = Path(__file__).resolve().parent.parent / "configs" / "grids"
SWEPT_IN_ONE_CALL = {"beam", "k"}
FLAGS = {"method", "dataset", "protocol", "backend", "beam", "k", "identifier", "seq_len", "fresh", "limit",
         "depth", "seed", "sweep", "set"}


def load_grid(path: Path) -> dict:
    try:
        grid = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise HarnessError(f"grid {path}: cannot be read ({e})") from None
    unknown = set(grid) - {"datasets", "defaults", "cells"}
    if unknown:
        raise HarnessError(f"grid {path}: unknown key(s) {', '.join(sorted(unknown))}; known: datasets, defaults, cells")
    for cell in grid.get("cells", []):
        bad = set(cell) - FLAGS
        if bad:
            raise HarnessError(f"grid {path}: cell {cell} has unknown key(s) {', '.join(sorted(bad))}; "
                               f"known: {', '.join(sorted(FLAGS))}")
    return grid


def expand(cell: dict) -> list[dict]:
    """One dict per combination of the list-valued keys (beam and k stay lists)."""
    keys = [k for k, v in cell.items() if isinstance(v, list) and k not in SWEPT_IN_ONE_CALL]
    combos = itertools.product(*(cell[k] for k in keys))
    return [{**cell, **dict(zip(keys, values))} for values in combos]


def argv_for(cell: dict) -> list[str]:
    argv = []
    for key, value in cell.items():
        flag = "--" + key.replace("_", "-")
        if key == "sweep":
            argv += [flag] if value else []
        elif key == "set":
            for pair in value if isinstance(value, list) else [value]:
                argv += ["--set", str(pair)]
        elif isinstance(value, list):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def present(dataset: str, data_root: Path | None) -> bool:
    try:
        load_dataset(dataset, root=data_root, limit=1)
        return True
    except DatasetError:
        return False


def grid_files(quick: bool, data_root: Path | None) -> list[Path]:
    if quick:
        return [GRIDS / "quick.yaml"]
    found = [p for p in sorted(GRIDS.glob("*.yaml")) if p.stem not in ("quick", "embedded")
             and any(present(d, data_root) for d in load_grid(p).get("datasets", []))]
    if not found:
        log.info("no dataset found under %s: running the embedded default's grid", data_root or "the data root")
        return [GRIDS / "embedded.yaml"]
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.grid", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the short grid on the embedded default")
    p.add_argument("--grid", type=Path, action="append", help="run these grid files instead")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--weights", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--force", action="store_true")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    common = ["--results", str(args.results), "--cache", str(args.cache), "--device", args.device]
    common += ["--data-root", str(args.data_root)] if args.data_root else []
    common += ["--weights", str(args.weights)] if args.weights else []
    common += ["--force"] if args.force else []
    try:
        files = args.grid or grid_files(args.quick, args.data_root)
        calls = []
        for path in files:
            grid = load_grid(path)
            for dataset in grid.get("datasets", ["embedded"]):
                for cell in grid.get("cells", []):
                    for one in expand({"dataset": dataset, **grid.get("defaults", {}), **cell}):
                        calls.append(argv_for(one) + common)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed, unavailable = [], []
    for i, call in enumerate(calls, 1):
        log.info("[%d/%d] python -m bench.run %s", i, len(calls), " ".join(call))
        code = run_cell.main(call)
        if code == 130:
            return 130
        if code == run_cell.UNAVAILABLE:
            unavailable.append(" ".join(call))
        elif code != 0:
            failed.append(" ".join(call))
    if not args.no_report:
        from . import report

        report.main(["--results", str(args.results), "--reports", str(args.reports)])
    for call in unavailable:
        print(f"unavailable here (see the reason above): python -m bench.run {call}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(calls)} grid calls failed (see the errors above):", file=sys.stderr)
        for call in failed:
            print(f"  python -m bench.run {call}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
