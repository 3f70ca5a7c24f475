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
      - {tool: throughput, method: irgen, beam: [1, 10, 30], batch: [1, 128]}
      - {tool: sweep, method: effnet, backends: [ivfpq, scann]}

A cell runs ``bench.run`` unless its ``tool`` says ``throughput`` (``bench.throughput``:
timings per stage, Figure 5) or ``sweep`` (``bench.sweep`` over the method's features of
the dataset: recall against queries per second, the Pareto plot). The defaults apply to
a tool's cells where the tool takes the key (``limit``; not ``k``). A sweep already
stored is not measured again unless ``--force``.
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
from .cli import UNAVAILABLE

log = logging.getLogger("bench.grid")

GRIDS = Path(__file__).resolve().parent.parent / "configs" / "grids"
SWEPT_IN_ONE_CALL = {"beam", "k", "batch", "backends"}
FLAGS = {"method", "dataset", "protocol", "backend", "beam", "k", "identifier", "seq_len", "fresh", "limit",
         "depth", "seed", "sweep", "set"}
TOOL_FLAGS = {  # the keys each tool's cells take (besides "tool")
    "run": FLAGS,
    "throughput": {"method", "dataset", "protocol", "backend", "beam", "batch", "limit", "set", "db_size",
                   "repeats", "warmup", "untrained", "seed", "k"},
    "sweep": {"method", "dataset", "limit", "backends", "set", "queries", "k", "seed", "single", "runs"},
}
NOT_FROM_DEFAULTS = {"throughput": {"k"}, "sweep": {"k"}}  # a default k is bench.run's list of cut-offs


def load_grid(path: Path) -> dict:
    try:
        grid = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise HarnessError(f"grid {path}: cannot be read ({e})") from None
    unknown = set(grid) - {"datasets", "defaults", "cells"}
    if unknown:
        raise HarnessError(f"grid {path}: unknown key(s) {', '.join(sorted(unknown))}; known: datasets, defaults, cells")
    for cell in grid.get("cells", []):
        tool = cell.get("tool", "run")
        if tool not in TOOL_FLAGS:
            raise HarnessError(f"grid {path}: cell {cell} has tool {tool!r}; choose one of {', '.join(TOOL_FLAGS)}")
        bad = set(cell) - TOOL_FLAGS[tool] - {"tool"}
        if bad:
            raise HarnessError(f"grid {path}: cell {cell} has unknown key(s) {', '.join(sorted(bad))}; "
                               f"known for tool {tool}: {', '.join(sorted(TOOL_FLAGS[tool]))}")
    return grid


def with_defaults(cell: dict, defaults: dict) -> dict:
    """The grid's defaults under the cell, only those its tool takes."""
    tool = cell.get("tool", "run")
    taken = TOOL_FLAGS[tool] - NOT_FROM_DEFAULTS.get(tool, set())
    return {**{k: v for k, v in defaults.items() if k in taken}, **cell}


def expand(cell: dict) -> list[dict]:
    """One dict per combination of the list-valued keys (beam and k stay lists)."""
    keys = [k for k, v in cell.items() if isinstance(v, list) and k not in SWEPT_IN_ONE_CALL]
    combos = itertools.product(*(cell[k] for k in keys))
    return [{**cell, **dict(zip(keys, values))} for values in combos]


def argv_for(cell: dict) -> list[str]:
    argv = []
    for key, value in cell.items():
        flag = "--" + key.replace("_", "-")
        if key == "tool":
            continue
        if key in ("sweep", "untrained"):
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
    found = [p for p in sorted(GRIDS.glob("*.yaml")) if p.stem != "quick" and not p.stem.startswith("embedded")
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
    extra = {"run": ["--force"] if args.force else [], "throughput": ["--force"] if args.force else [],
             "sweep": ["--reports", str(args.reports)] + ([] if args.force else ["--skip-done"])}
    try:
        files = args.grid or grid_files(args.quick, args.data_root)
        calls = []
        for path in files:
            grid = load_grid(path)
            for dataset in grid.get("datasets", ["embedded"]):
                for cell in grid.get("cells", []):
                    for one in expand(with_defaults({"dataset": dataset, **cell}, grid.get("defaults", {}))):
                        tool = one.get("tool", "run")
                        calls.append((tool, argv_for(one) + common + extra[tool]))
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed, unavailable = [], []
    for i, (tool, call) in enumerate(calls, 1):
        line = f"python -m bench.{tool} {' '.join(call)}"
        log.info("[%d/%d] %s", i, len(calls), line)
        code = tool_main(tool)(call)
        if code == 130:
            return 130
        if code == UNAVAILABLE:
            unavailable.append(line)
        elif code != 0:
            failed.append(line)
    if not args.no_report:
        from . import report

        report.main(["--results", str(args.results), "--reports", str(args.reports)])
    for line in unavailable:
        print(f"unavailable here (see the reason above): {line}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(calls)} grid calls failed (see the errors above):", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def tool_main(tool: str):
    """The ``main(argv)`` of the module a grid cell runs."""
    if tool == "throughput":
        from . import throughput

        return throughput.main
    if tool == "sweep":
        from . import sweep

        return sweep.main
    return run_cell.main


if __name__ == "__main__":
    sys.exit(main())
