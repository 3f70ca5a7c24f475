"""Results rows -> what the reports show: a ``Section`` per dataset x protocol x size limit,
holding a ``Cell`` per method x variant x backend x setting (its metric values, the latest
run of each seed, seeds averaged, and from its manifest the build parameters of its search
backend); which cells are the headline rows, how they group into one series per method, and
how a cell is named in tables and legends: every IRGen row names its preset and encoder, and
a model that trained fewer steps than its preset's floor says so."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from methods.base import parse_setting as parse_pairs

from ..results import CELL_KEYS, ResultStore
from . import names


def natural_key(text: str) -> tuple:
    """Sort key that orders ``nprobe=8`` before ``nprobe=16``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text))


@dataclass(eq=False)
class Cell:
    """One method x backend x setting on one dataset: its metric values, seeds averaged."""

    method: str
    variant: str
    features: str
    backend: str
    setting: str
    values: dict[tuple[str, int], float]
    run_ids: tuple[str, ...]
    seeds: int
    built_with: dict | None = None  # the search backend's build parameters as built (its latest manifest)
    device: str = "-"  # where it ran: the device type and the CPU threads
    threads: str = "-"
    timing: dict[str, str] = field(default_factory=dict)  # time metric -> "measured" / "cached from run <id>"

    @property
    def irgen(self) -> bool:
        return self.method == "irgen"

    @cached_property
    def fields(self) -> dict:
        """What a paper row's key can name (method, features, backend, identifier, T, fresh) and what
        a row's label says: whether it ran as the paper's model (``as_paper``: IRGen's official or paper preset,
        a feature model at size=paper), IRGen's preset, encoder and input side, the backend's build
        parameters, and the steps of a model trained below its preset's floor."""
        v = parse_pairs(self.variant)
        return {"method": self.method, "features": self.features if not self.irgen else "irgen",
                "backend": self.backend if not self.irgen else "beam",
                "identifier": v.get("identifier", "rq") if self.irgen else None,
                "T": int(v["T"]) if "T" in v else None, "fresh": float(v.get("fresh", 0.0)),
                "beam": int(parse_pairs(self.setting).get("beam", 0)), "setting": self.setting,
                "as_paper": v.get("preset") in names.AS_PAPER_PRESETS or v.get("size") == "paper",
                "preset": v.get("preset"),
                "encoder": self.features.removeprefix("irgen-") if self.irgen else None,
                "input_px": self.get("input_px", 0), "built_with": self.built_with,
                "short_steps": self.short_steps()}

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


@dataclass(eq=False)
class Section:
    """Everything measured on one dataset under one protocol and size limit."""

    dataset: str
    protocol: str
    limit: str
    cells: list[Cell] = field(default_factory=list)

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


def sections_from(df: pd.DataFrame, manifests: dict | None = None) -> list[Section]:
    """Latest run per cell and metric (run ids sort by time), then the mean over seeds; with the
    runs' ``manifests``, each cell's search backend's build parameters as built."""
    if df.empty:
        return []
    cell_keys = [c for c in CELL_KEYS if c != "seed"]
    df = df.assign(**{c: "-" for c in cell_keys + ["timing"] if c not in df})  # rows from before the columns
    df = df.sort_values("run_id", kind="stable")
    df = df.drop_duplicates(cell_keys + ["seed", "metric", "k"], keep="last")
    sections: dict[tuple, Section] = {}
    for keys, rows in df.groupby(cell_keys, sort=True):
        meaned = rows.groupby(["metric", "k"], sort=True)["value"].mean()
        run_ids = tuple(sorted(set(rows["run_id"])))
        latest = (manifests or {}).get(run_ids[-1], {})
        where = dict(zip(cell_keys[3:], keys[3:]))
        timing = {m: str(t) for m, t in zip(rows["metric"], rows["timing"].fillna("-")) if t not in ("-", "")}
        cell = Cell(**where, values={(m, int(k)): float(v) for (m, k), v in meaned.items()},
                    run_ids=run_ids, seeds=rows["seed"].nunique(),
                    built_with=latest.get("method", {}).get("backend_built_with"), timing=timing)
        sections.setdefault(keys[:3], Section(*keys[:3])).cells.append(cell)
    return [sections[k] for k in sorted(sections, key=lambda k: (k[0] not in names.PAPER_DATASETS, k))]


def sort_key(f: dict) -> tuple:
    """Paper order: search group, then model, then identifier, T, fresh, setting."""
    backends, models, ids = list(names.BACKENDS), list(names.MODELS), list(names.IDENTIFIERS)
    return (backends.index(f["backend"]) if f["backend"] in backends else len(backends), f["backend"],
            models.index(f["features"]) if f["features"] in models else len(models), f["features"],
            ids.index(f["identifier"]) if f.get("identifier") in ids else len(ids), f.get("T") or 0,
            f.get("fresh") or 0.0, natural_key(f.get("setting") or ""))


def main_t(cells: list[Cell]) -> int | None:
    """IRGen's headline length: T = 4 (the paper's) where it ran, else the shortest that ran."""
    ts = {c.fields["T"] for c in cells if c.irgen and c.fields["identifier"] == "rq" and not c.fields["fresh"]}
    return 4 if 4 in ts else min((t for t in ts if t is not None), default=None)


def main_cells(section: Section) -> list[Cell]:
    """The headline rows (Tables 1, 2, 5, the figures): no held-out data; IRGen's RQ identifiers at its main T."""
    t = main_t(section.cells)
    return [c for c in section.cells if not c.fields["fresh"]
            and (not c.irgen or (c.fields["identifier"] == "rq" and c.fields["T"] == t))]


def representative(cells: list[Cell]) -> Cell:
    """The one setting drawn as a method's line: the backend's defaults (``-``) where they ran,
    else its largest query parameter; IRGen's largest beam."""
    return max(cells, key=lambda c: (c.setting == "-", c.fields["beam"], natural_key(c.setting)))


def series(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped into one series per method x features x backend x variant, in paper order."""
    groups: dict[tuple, list[Cell]] = {}
    for c in sorted(cells, key=lambda c: sort_key(c.fields)):
        groups.setdefault((c.method, c.features, c.backend, c.variant), []).append(c)
    return list(groups.values())


def variant_words(variant: str, named_apart: tuple[str, ...] = ("fresh",)) -> str:
    """What a variant adds to a model's name (IRGen's default RQ identifiers and the keys
    ``named_apart``, by default the held-out share, left out)."""
    if variant == "-":
        return ""
    pairs = parse_pairs(variant)
    if not pairs:
        return variant
    return ",".join(f"{k}={v}" for k, v in pairs.items() if (k, v) != ("identifier", "rq") and k not in named_apart)


def irgen_model(f: dict) -> str:
    """``small, EfficientNet-Lite0 64 px``, ``official recipe, CLIP ViT-B/16 224 px``: IRGen's preset
    (names.PRESETS) and encoder, and its input side where recorded."""
    parts = [names.preset(f["preset"])] if f.get("preset") else []
    if f.get("encoder"):
        px = f" {int(f['input_px'])} px" if f.get("input_px") else ""
        parts.append(names.encoder(f["encoder"]) + px)
    return ", ".join(parts)


def steps_words(f: dict) -> str:
    """`` [46 steps, under the floor of 120]`` for a model trained below its preset's step floor, else ``""``."""
    short = f.get("short_steps")
    return f" [{short[0]} steps, under the floor of {short[1]}]" if short else ""


def model_label(f: dict, variant: str = "-") -> str:
    """``FT-CLIP (size=small)``, ``IRGen (small, EfficientNet-Lite0 64 px; T=4)``."""
    irgen = f["method"] == "irgen"
    name = "IRGen" if irgen else names.model(f["features"]).label
    words = [irgen_model(f), variant_words(variant, ("fresh", "preset"))] if irgen else [variant_words(variant)]
    words = [w for w in words if w]
    return (f"{name} ({'; '.join(words)})" if words else name) + steps_words(f)


def build_words(f: dict) -> str:
    """The search backend's build parameters as built: ``nlist=300, M=4, nbits=8``; ``exact`` for the
    exact scans, ``not recorded`` where its run's manifest (an older one) does not say."""
    if f["backend"] in names.EXACT_BACKENDS:
        return "exact"
    if f["backend"] == "beam" or f.get("paper_only"):
        return names.MISSING
    built = f.get("built_with")
    return ", ".join(f"{k}={v}" for k, v in sorted(built.items())) if built is not None else "not recorded"


def line_label(cell: Cell, with_setting: bool = True) -> str:
    """``FT-CLIP (size=small) / SPANN``, ``IRGen (small, EfficientNet-Lite0 64 px; T=4) beam=10``: how a cell
    is named in legends."""
    f = cell.fields
    base = model_label(f, cell.variant)
    if not cell.irgen:
        base += f" / {names.backend(f['backend']).label}"
    return f"{base} {cell.setting}" if with_setting and cell.setting != "-" else base
