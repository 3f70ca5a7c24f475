"""Results rows -> what the reports show: a ``Section`` per dataset x protocol x size limit,
holding a ``Cell`` per method x model x backend x setting (its metric values, the latest run of
each seed, seeds averaged, each with its 95% interval from bench/uncertainty.py, and from its
manifest the build parameters of its search backend);
which cells are the headline rows, how they group into one series per model, and how a cell is
named in tables and legends. What distinguishes a model is its typed ``model`` column, shown as
its method's description (``MethodSpec.fields``) says; nothing here knows a method by name."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from methods.registry import MethodSpec

from .. import uncertainty
from ..results import ResultStore
from . import names


def natural_key(text: str) -> tuple:
    """Sort key that orders ``nprobe=8`` before ``nprobe=16``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text))


def rank(value) -> tuple:
    """Sort key of a field's value: missing, then numbers, then text."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, str(value))


@dataclass(eq=False)
class Cell:
    """One method x model x backend x setting on one dataset: its metric values, seeds averaged."""

    method: str
    backend: str
    setting: str
    model: dict  # the results' model column: what distinguishes this model (MethodSpec.fields)
    values: dict[tuple[str, int], float]
    run_ids: tuple[str, ...]
    seeds: int
    built_with: dict | None = None  # the search backend's build parameters as built (its latest manifest)
    device: str = "-"  # where it ran: the device type and the CPU threads
    threads: str = "-"
    timing: dict[str, str] = field(default_factory=dict)  # time metric -> "measured" / "cached from run <id>"
    cell_ids: tuple[str, ...] = ()  # its seeds' cells in results/
    spread: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)  # metric@k's 95% interval, if any
    interval: tuple[str, int] | None = None  # its intervals' kind and count (bench.definitions.interval_words)

    @property
    def spec(self) -> MethodSpec:
        return names.spec(self.method)

    @property
    def kind(self) -> str:
        """Its backend's name as the report shows it: the backend's, or the kind of index its build
        parameters make (``names.series``: DiskANN's disk index is ``diskann-disk``)."""
        return names.series(self.backend, self.built_with or {})

    @cached_property
    def fields(self) -> dict:
        """What a paper row's key can name: the method, the backend and the model's fields (each
        field its method describes at its default where the model leaves it out)."""
        return fields_of(self.method, self.backend, self.model)

    @property
    def paper_rank(self) -> int | None:
        """Where it ran as the paper's model (a field at one of its ``paper`` values: a paper column may
        sit beside it), that value's place among them (0 preferred); else None."""
        return next((f.paper.index(f.value(self.model)) for f in self.spec.fields if f.value(self.model) in f.paper),
                    None)

    @property
    def key(self) -> tuple:
        """What the cell is but its setting: its series."""
        return self.method, self.backend, json.dumps(self.model, sort_keys=True)

    def short_steps(self) -> tuple[int, int] | None:
        """(the fewest optimisation steps a trained part of this model took, its preset's floor)
        where that is below the floor (``--set min_steps=...``), else None."""
        floor = self.get("preset_min_steps", 0) or 0
        steps = [v for (m, _), v in self.values.items() if m.startswith("train_steps_")]
        return (int(min(steps)), int(floor)) if steps and min(steps) < floor else None

    def get(self, metric: str, k: int) -> float | None:
        return self.values.get((metric, k))

    @property
    def qps(self) -> float:
        """Batched queries/s (``qps_batch``: a batch over its median whole-batch time), 0 where not
        measured; a cell timed one query per call (``qps_single``) is not put on the same axis."""
        return self.get("qps_batch", 0) or 0.0

    def ks(self, metric: str) -> list[int]:
        return sorted(k for m, k in self.values if m == metric)


def fields_of(method: str, backend: str, model: dict) -> dict:
    spec = names.spec(method)
    return {"method": method, "backend": backend, **{f.name: f.value(model) for f in spec.fields}, **model}


@dataclass(eq=False)
class Section:
    """Everything measured on one dataset under one protocol and size limit."""

    dataset: str
    protocol: str
    limit: str
    cells: list[Cell] = field(default_factory=list)
    uncertainty: uncertainty.Section | None = None  # its cells' rankings: paired tests

    @property
    def slug(self) -> str:
        parts = [self.dataset] + ([self.protocol] if self.protocol != "paper" else [])
        return "-".join(parts + ([f"limit{self.limit}"] if self.limit != "-" else []))

    @property
    def title(self) -> str:
        name = names.dataset(self.dataset)
        extra = [f"{self.protocol} protocol"] if self.protocol != "paper" else []
        extra += [f"at most {self.limit} images per split"] if self.limit != "-" else []
        return f"{name} ({', '.join(extra)})" if extra else name

    @property
    def paper(self) -> bool:
        """Whether the paper measured this set this way, so its numbers may sit beside ours."""
        return self.dataset in names.PAPER_DATASETS and self.protocol == "paper"

    def ks(self, metric: str, cells: list[Cell] | None = None) -> list[int]:
        return sorted({k for c in (self.cells if cells is None else cells) for k in c.ks(metric)})


def read_results(results: Path) -> pd.DataFrame:
    """The rows of results/ that hold a value."""
    return ResultStore(results).load().dropna(subset=["value"])


def sections_from(df: pd.DataFrame, manifests: dict | None = None, results: Path | None = None) -> list[Section]:
    """Latest run per cell and seed (``uncertainty.latest_per_seed``), then the mean over seeds; with
    the runs' ``manifests``, each cell's search backend's build parameters as built; with ``results``,
    each cell's 95% intervals from its stored rankings."""
    if df.empty:
        return []
    keys = uncertainty.GROUP
    df = uncertainty.latest_per_seed(df)
    sections = []
    for where, rows in df.groupby(uncertainty.SECTION, sort=True):
        section = Section(*where, uncertainty=uncertainty.Section(results, rows) if results is not None else None)
        for values, group in rows.groupby(keys, sort=True):
            key = dict(zip(keys, values))
            meaned = group.groupby(["metric", "k"], sort=True)["value"].mean()
            run_ids = tuple(sorted(set(group["run_id"])))
            latest = (manifests or {}).get(run_ids[-1], {})
            timing = {m: str(t) for m, t in zip(group["metric"], group["timing"].fillna("-")) if t not in ("-", "")}
            section.cells.append(Cell(
                key["method"], key["backend"], key["setting"], json.loads(key["model"]),
                {(m, int(k)): float(v) for (m, k), v in meaned.items()}, run_ids, group["seed"].nunique(),
                latest.get("method", {}).get("backend_built_with"), key["device"], key["threads"], timing,
                tuple(sorted(set(group["cell_id"].astype(str))))))
        if section.uncertainty is not None:
            for cell in section.cells:
                found = section.uncertainty.group(cell.cell_ids)
                cell.spread = {(r["metric"], r["k"]): (r["low"], r["high"]) for r in found
                               if math.isfinite(r["low"]) and math.isfinite(r["high"])}
                cell.interval = (found[0]["kind"], found[0]["n"]) if found else None
        sections.append(section)
    return sorted(sections, key=lambda s: (s.dataset not in names.PAPER_DATASETS, (s.dataset, s.protocol, s.limit)))


def sort_key(f: dict) -> tuple:
    """Paper order: search group, then method, then its model's fields in its description's order, setting."""
    backends, methods = list(names.BACKENDS), list(names.METHOD_ORDER)
    spec = names.spec(f["method"])
    order = tuple((list(x.words).index(f.get(x.name)) if f.get(x.name) in x.words else len(x.words),
                   rank(f.get(x.name))) for x in spec.fields)
    return (backends.index(f["backend"]) if f["backend"] in backends else len(backends), f["backend"],
            methods.index(f["method"]) if f["method"] in methods else len(methods), f["method"], order,
            natural_key(f.get("setting") or ""))


def headline(items: list, method_of=lambda c: c.method, model_of=lambda c: c.model) -> list:
    """The headline rows (Tables 1, 2, 5, the figures): per method, each of its fields that has a
    ``headline`` value at it; where none of the method's rows has it, a field with no default (a
    length T) takes the smallest that ran, one with a default keeps none."""
    kept = set()
    for method in dict.fromkeys(map(method_of, items)):
        mine = [c for c in items if method_of(c) == method]
        ablated = [f for f in names.spec(method).fields if f.headline is not None]
        for f in sorted(ablated, key=lambda f: f.default is None):
            values = {f.value(model_of(c)) for c in mine}
            at = f.headline if f.headline in values or f.default is not None else min(values, key=rank, default=None)
            mine = [c for c in mine if f.value(model_of(c)) == at]
        kept |= set(map(id, mine))
    return [c for c in items if id(c) in kept]


def main_cells(section: Section) -> list[Cell]:
    return headline(section.cells)


def representative(cells: list[Cell]) -> Cell:
    """The one setting drawn as a model's line: the backend's defaults (``-``) where they ran,
    else its largest query parameter (a generative method's largest beam)."""
    return max(cells, key=lambda c: (c.setting == "-", natural_key(c.setting)))


def series(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped into one series per method x model x backend, in paper order."""
    groups: dict[tuple, list[Cell]] = {}
    for c in sorted(cells, key=lambda c: sort_key({**c.fields, "setting": c.setting})):
        groups.setdefault(c.key, []).append(c)
    return list(groups.values())


def model_words(method: str, model: dict, apart=()) -> str:
    """What a model's fields add to its method's name: its fields with words (``small,
    EfficientNet-Lite0, 64 px``), then the others as ``name=value`` (``T=4``), each as its method's
    description says; fields at their default, fields not said and those ``apart`` (a table's own
    columns) left out."""
    spec = names.spec(method)
    listed = [f.name for f in spec.fields]
    worded, pairs = [], []
    for name in listed + sorted(set(model) - set(listed)):
        f = spec.model_field(name)
        if name in model and name not in apart and f.said and model[name] != f.default:
            (worded if f.words or f.unit else pairs).append(f.words_for(model[name]))
    return "; ".join(w for w in (", ".join(worded), ",".join(pairs)) if w)


def steps_words(short: tuple[int, int] | None) -> str:
    """`` [46 steps, under the floor of 120]`` for a model trained below its preset's step floor, else ``""``."""
    return f" [{short[0]} steps, under the floor of {short[1]}]" if short else ""


def model_label(method: str, model: dict, apart=(), short: tuple[int, int] | None = None) -> str:
    """``FT-CLIP (paper size, 224 px)``, ``IRGen (small, EfficientNet-Lite0, 64 px; T=4)``."""
    words = model_words(method, model, apart)
    name = names.model(method).label
    return (f"{name} ({words})" if words else name) + steps_words(short)


def cell_label(cell: Cell, apart=()) -> str:
    return model_label(cell.method, cell.model, apart, cell.short_steps())


def build_words(f: dict, built_with: dict | None = None) -> str:
    """The search backend's build parameters as built: ``nlist=300, M=4, nbits=8``; ``exact`` for the
    exact scans, ``not recorded`` where its run's manifest (an older one) does not say."""
    if f["backend"] in names.EXACT_BACKENDS:
        return "exact"
    if not names.spec(f["method"]).searched_by_backend or f.get("paper_only"):
        return names.MISSING
    return ", ".join(f"{k}={v}" for k, v in sorted(built_with.items())) if built_with is not None else "not recorded"


def line_label(cell: Cell, with_setting: bool = True) -> str:
    """``FT-CLIP (paper size, 224 px) / SPANN``, ``IRGen (small, EfficientNet-Lite0, 64 px; T=4) beam=10``:
    how a cell is named in legends."""
    base = cell_label(cell)
    if cell.spec.searched_by_backend:
        base += f" / {names.backend(cell.kind).label}"
    return f"{base} {cell.setting}" if with_setting and cell.setting != "-" else base
