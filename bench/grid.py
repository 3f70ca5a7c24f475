"""The grid: ``python -m bench.grid [--quick] [--data-root DIR] [--jobs N] [...]`` runs every
cell of the grid files (``configs/grids/*.yaml``) for every dataset that is present, the
embedded default when none is, each cell in a child process with a time limit, skipping
work already in ``results/``, then rebuilds ``reports/`` from ``results/``.

A grid file lists cells; a list value expands into one call per value, except the values a
tool takes as a list in one call (``beam``, ``k``, ``batch``, ``backends``, ``sizes``, ``seeds``:
bench.run trains and evaluates once per seed, in one call, the data drawn once)::

    datasets: [cub200]
    defaults: {k: [1, 2, 4, 8]}
    cells:
      - {method: effnet, backend: [linear, ivfpq], backend_param: [nlist=100]}
      - {method: irgen, beam: [1, 10, 20, 30], seeds: [0, 1, 2]}
      - {tool: throughput, method: irgen, beam: [1, 10, 30], batch: [1, 128]}
      - {tool: sweep, method: effnet, backends: [ivfpq, scann]}
      - {tool: scaling, sizes: [10000, 30000], backends: [linear, ivfpq]}

A cell runs ``bench.run`` unless its ``tool`` names another command (``throughput``,
``sweep``, ``scaling``); its keys are that command's flags (``seq_len`` is ``--seq-len``),
checked against the command's own parser: every cell's command line is parsed before any
cell runs, so a flag its method does not take, or a mistyped ``backend_param``, stops the grid
in one line. The grid's defaults apply to the cells whose command and method take the key. A
cell that fails or runs past ``--cell-timeout`` is recorded in
``results/failures.csv`` and in the report, and the grid goes on; the exit status is 1
when any cell failed. ``--jobs N`` runs N cells at once; ``--launcher slurm`` submits them
as a Slurm job array (see ``bench.launch``).
"""
from __future__ import annotations

import functools
import importlib
import itertools
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from datasets import DatasetError, load_dataset
from methods.base import HarnessError
from methods.registry import METHOD_FLAGS, describe
from methods.runtime.overrides import preset_alias, yaml_problem

from .cli import guarded, parser, positive_int, quiet_libraries
from .launch import Cell, Outcome, Settings, run_local, run_submitit
from .results import failures_table

log = logging.getLogger("bench.grid")

GRIDS = Path(__file__).resolve().parent.parent / "configs" / "grids"
TOOLS = ("run", "throughput", "sweep", "scaling")
SWEPT_IN_ONE_CALL = {"beam", "k", "batch", "backends", "sizes", "seeds"}
REPEATED = {"set", "backend_param"}  # a list gives the flag once per value
SWITCHES = {"sweep", "untrained", "no_irgen"}  # true: the bare flag; false: nothing
GRID_OWNS = {"results", "cache", "device", "data_root", "weights", "force", "no_progress", "dtype"}


@functools.cache
def command_flags(tool: str) -> frozenset[str]:
    """Every flag of ``bench.<tool>``, as a grid key (``--seq-len``: ``seq_len``)."""
    command = importlib.import_module(f"bench.{tool}")
    return frozenset(o[2:].replace("-", "_") for a in command.build_parser()._actions for o in a.option_strings
                     if o.startswith("--"))


def tool_flags(tool: str) -> set[str]:
    """The keys a cell of ``tool`` may have: its command's flags but those the grid sets for every cell."""
    return set(command_flags(tool)) - {"help"} - GRID_OWNS


def load_grid(path: Path) -> dict:
    try:
        grid = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as e:
        raise HarnessError(f"grid {path}: cannot be read ({e})") from None
    except yaml.YAMLError as e:
        raise HarnessError(f"grid: {yaml_problem(path, e)}; fix the YAML there") from None
    if not isinstance(grid, dict):
        raise HarnessError(f"grid {path}: expected a mapping with datasets, defaults and cells")
    unknown = set(grid) - {"datasets", "defaults", "cells"}
    if unknown:
        raise HarnessError(f"grid {path}: unknown key(s) {', '.join(sorted(unknown))}; known: datasets, defaults, cells")
    for cell in grid.get("cells", []):
        tool = cell.get("tool", "run")
        if tool not in TOOLS:
            raise HarnessError(f"grid {path}: cell {cell} has tool {tool!r}; choose one of {', '.join(TOOLS)}")
        bad = set(cell) - tool_flags(tool) - {"tool"}
        if bad:
            raise HarnessError(f"grid {path}: cell {cell} has unknown key(s) {', '.join(sorted(bad))}; "
                               f"bench.{tool} takes: {', '.join(sorted(tool_flags(tool)))}")
    return grid


def with_defaults(cell: dict, defaults: dict) -> dict:
    """The grid's defaults under the cell, only those its command takes."""
    taken = tool_flags(cell.get("tool", "run"))
    return {**{k: v for k, v in defaults.items() if k in taken}, **cell}


def expand(cell: dict) -> list[dict]:
    """One dict per combination of the list-valued keys (those a command takes as a list stay lists)."""
    keys = [k for k, v in cell.items() if isinstance(v, list) and k not in SWEPT_IN_ONE_CALL | REPEATED]
    combos = itertools.product(*(cell[k] for k in keys))
    return [{**cell, **dict(zip(keys, values))} for values in combos]


def argv_for(cell: dict) -> list[str]:
    argv = []
    for key, value in cell.items():
        flag = "--" + key.replace("_", "-")
        if key == "tool":
            continue
        if key in SWITCHES:
            argv += [flag] if value else []
        elif key in REPEATED:
            for pair in value if isinstance(value, list) else [value]:
                argv += [flag, str(pair)]
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


def cells_of(files: list[Path], common: list[str]) -> list[Cell]:
    cells = []
    for path in files:
        grid = load_grid(path)
        defaults = grid.get("defaults", {})
        for dataset in grid.get("datasets", ["embedded"]):
            for cell in grid.get("cells", []):
                on = {"dataset": dataset} if "dataset" in tool_flags(cell.get("tool", "run")) else {}
                for one in expand(with_defaults({**on, **cell}, defaults)):
                    one = without_untaken_defaults(one, set(defaults) - set(cell))
                    tool = one.get("tool", "run")
                    cells.append(checked(path, one, Cell(tool, tuple(argv_for(one)), tuple(common_for(tool, common)))))
    return list(dict.fromkeys(cells))  # one call once, however many grid files list it


def without_untaken_defaults(cell: dict, from_defaults: set[str]) -> dict:
    """The cell without the grid defaults that are method flags its method does not take."""
    try:
        takes = describe(str(cell["method"])).takes if "method" in cell else METHOD_FLAGS
    except HarnessError:  # an unknown method: ``checked`` names it with the grid file
        return cell
    untaken = {key for key in from_defaults if key.replace("_", "-") in set(METHOD_FLAGS) - set(takes)}
    return {k: v for k, v in cell.items() if k not in untaken}


def checked(path: Path, one: dict, cell: Cell) -> Cell:
    """``cell`` once its command line parses as its command's (flags its method takes included)."""
    try:
        importlib.import_module(f"bench.{cell.tool}").build_parser().parse_args([*cell.argv, *cell.common])
    except HarnessError as e:
        raise HarnessError(f"grid {path}: cell {one}: {e}") from None
    return cell


def common_for(tool: str, common: list[str]) -> list[str]:
    """The grid's own flags, those the command takes."""
    takes = command_flags(tool)
    out, i = [], 0
    while i < len(common):
        n = 2 if i + 1 < len(common) and not common[i + 1].startswith("--") else 1
        if common[i][2:].replace("-", "_") in takes:
            out += common[i:i + n]
        i += n
    return out


def flag_values(argv: tuple[str, ...], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def small_model_notice(cells: list[Cell], weights: Path | None) -> None:
    """Once, at the start: the cells whose feature model runs its small random-init preset, and the
    file that would make it the paper's model (``--set preset=paper`` with the file in --weights DIR)."""
    from methods.features import feature_model_classes

    small = {}
    for cell in cells:
        for method in flag_values(cell.argv, "--method"):
            try:
                model_cls, cfg_cls = feature_model_classes(method)
            except KeyError:
                continue
            sets = preset_alias(dict(s.split("=", 1) for s in flag_values(cell.argv, "--set") if "=" in s))
            if sets.get("preset", getattr(cfg_cls(), "preset", None)) == "small" and model_cls.published is not None:
                small[method] = model_cls.published.names[0]
    if small:
        where = f"in {weights}" if weights else "in --weights DIR"
        log.warning("these cells run a small random-init model (variant preset=small), not the paper's: %s; "
                    "to run the paper's, add --set preset=paper to their grid cells with the file %s",
                    ", ".join(f"{m} (needs {f})" for m, f in sorted(small.items())), where)


def build_parser():
    p = parser("python -m bench.grid", __doc__)
    p.add_argument("--quick", action="store_true", help="the short grid on the embedded default")
    p.add_argument("--grid", type=Path, action="append", help="run these grid files instead")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--weights", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--force", action="store_true", help="recompute what results/ already holds")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--jobs", type=positive_int, default=1, help="cells run at once (one GPU each where several)")
    p.add_argument("--cell-timeout", type=float, default=12 * 3600.0, metavar="SECONDS",
                   help="a cell still running after this long is stopped and recorded as timed out")
    p.add_argument("--launcher", default="local", choices=["local", "slurm", "submitit-local"])
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a submitit parameter for --launcher slurm, e.g. partition=gpu, gpus_per_node=1")
    return p


def cell_environment(args) -> dict:
    """What every cell's environment adds: the weights folder as $IRGEN_WEIGHTS, not --weights, since a
    cell whose model reads no file (a small preset, EfficientNet-Lite0) refuses the flag, while every
    paper-size model finds its file there."""
    return {"IRGEN_WEIGHTS": str(args.weights.resolve())} if args.weights else {}


def run(args) -> int:
    common = ["--results", str(args.results), "--cache", str(args.cache), "--device", args.device,
              "--dtype", args.dtype]
    common += ["--data-root", str(args.data_root)] if args.data_root else []
    common += ["--force"] if args.force else []
    common += ["--no-progress"] if args.no_progress or args.jobs > 1 else []
    cells = cells_of(args.grid or grid_files(args.quick, args.data_root), common)
    small_model_notice(cells, args.weights)
    failures = failures_table(args.results)
    outcomes: list[Outcome] = []
    start = time.perf_counter()

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        record(failures, outcome)
        what = {"ok": "done", "unavailable": "unavailable here"}.get(outcome.status, outcome.status.upper())
        cpu = "" if outcome.cpu_seconds is None else f" ({outcome.cpu_seconds:.0f} CPU s)"
        log.info("[%d/%d] %s in %.0f s%s: %s%s", len(outcomes), len(cells), what, outcome.seconds, cpu,
                 outcome.cell.label, f" -- {outcome.reason}" if outcome.reason else "")

    settings = Settings(args.results / "logs", args.cell_timeout, cell_environment(args), echo=args.jobs == 1)
    log.info("%d grid cells, %d at a time (%s)", len(cells), args.jobs, args.launcher)
    try:
        if args.launcher == "local":
            run_local(cells, settings, args.jobs, visible_gpus(args.device, args.jobs), done)
        else:
            cluster = "slurm" if args.launcher == "slurm" else "local"
            run_submitit(cells, settings, args.results / "submitit", cluster, slurm_parameters(args.slurm),
                         args.jobs, done)
    finally:
        if not args.no_report:
            from .report import build

            build(args.results, args.reports)
    return summarise(outcomes, len(cells), time.perf_counter() - start)


def record(failures, outcome: Outcome) -> None:
    """A failed cell gets a row of the failures table; a finished one loses its row."""
    key = outcome.cell.label
    if outcome.status == "ok":
        failures.remove(lambda table: table["cell"] == key)
    elif outcome.status != "interrupted":
        failures.merge(pd.DataFrame([{"cell": key, "status": outcome.status, "seconds": round(outcome.seconds, 1),
                                      "reason": outcome.reason, "log": outcome.log,
                                      "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}]))


def summarise(outcomes: list[Outcome], total: int, seconds: float) -> int:
    by = {s: [o for o in outcomes if o.status == s] for s in ("ok", "failed", "timeout", "unavailable")}
    cpu = sum(o.cpu_seconds or 0.0 for o in outcomes)
    print(f"grid: {len(by['ok'])} of {total} cells finished, {len(by['failed'])} failed, {len(by['timeout'])} timed "
          f"out, {len(by['unavailable'])} unavailable here, in {seconds / 60:.1f} min ({cpu / 60:.1f} CPU min)",
          file=sys.stderr)
    for o in by["unavailable"] + by["failed"] + by["timeout"]:
        print(f"  {o.status}: {o.cell.label}\n    {o.reason} (log: {o.log})", file=sys.stderr)
    return 1 if by["failed"] or by["timeout"] else 0


def visible_gpus(device: str, jobs: int) -> list[str]:
    """The GPUs to hand out one per running cell (none on the CPU or with one job)."""
    if not device.startswith("cuda") or jobs <= 1:
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [g.strip() for g in listed.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def slurm_parameters(pairs: list[str]) -> dict:
    from methods.runtime.overrides import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise HarnessError(f"--slurm {pair!r}: expected key=value, e.g. partition=gpu")
        out[key.strip()] = parse_value(value)
    return out


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    return guarded(run, lambda: build_parser().parse_args(argv), "finished cells are saved; run the same command again "
                   "to continue")


if __name__ == "__main__":
    sys.exit(main())
