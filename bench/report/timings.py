"""The rows of ``python -m bench.throughput`` (``results/throughput/``) as report figures:
Figure 5's bars (seconds per 100 queries by stage, IRGen per beam beside the feature + ANN
methods) and queries per second against batch size, on the dataset's database and on
synthetic ones."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from methods.base import parse_setting

from ..results import ResultStore
from ..results.manifest import device_words
from . import plots

STAGE_ORDER = ("preprocess", "encoder", "decoder", "masks", "lookup", "feature", "search")


@dataclass
class Timing:
    """One throughput cell: what ran and its per-stage ms per query."""

    dataset: str
    protocol: str
    limit: str
    method: str
    variant: str
    features: str
    backend: str
    setting: dict[str, str]
    values: dict[str, float]
    run_id: str

    @property
    def irgen(self) -> bool:
        return self.method == "irgen"

    @property
    def input_px(self) -> int | None:
        """The side of the images the model read, in pixels (rows from before it was recorded: None)."""
        px = self.values.get("input_px")
        return int(px) if px is not None else None

    @property
    def batch(self) -> int:
        return int(self.setting["batch"])

    @property
    def where(self) -> tuple[str, str, str]:
        """device, dtype, model (trained / untrained)."""
        return self.setting.get("device", "cpu"), self.setting.get("dtype", "fp32"), self.setting.get("model", "trained")

    def seconds_per_100(self) -> dict[str, float]:
        """Seconds per 100 queries per stage, in pipeline order."""
        ms = {m[len("ms_per_query_"):]: v for m, v in self.values.items()
              if m.startswith("ms_per_query_") and m != "ms_per_query_total"}
        return {s: ms[s] / 10.0 for s in STAGE_ORDER if s in ms}


def load_timings(results: Path) -> list[Timing]:
    table = ResultStore(Path(results) / "throughput").load()
    timings = []
    for cell_id, rows in table.groupby("cell_id", sort=False):
        first = rows.iloc[0]
        timings.append(Timing(first.dataset, first.protocol, str(first["limit"]), first.method, first.variant,
                              first.features, first.backend, parse_setting(first.setting),
                              dict(zip(rows.metric, rows.value.astype(float))), first.run_id))
    return timings


def hardware(results: Path, timings: list[Timing]) -> str:
    """The machine the timings ran on, in words (``several machines`` where they differ)."""
    names = set()
    for run_id in {t.run_id for t in timings}:
        path = Path(results) / "throughput" / "manifests" / f"{run_id}.json"
        if path.exists():
            names.add(device_words(json.loads(path.read_text()).get("hardware", {}), threads=True))
    return names.pop() if len(names) == 1 else ("several machines" if names else "hardware unknown")


def for_section(timings: list[Timing], dataset: str, protocol: str, limit: str) -> list[Timing]:
    """The section's timings on its own database (synthetic databases are left to the QPS figure)."""
    return [t for t in timings if (t.dataset, t.protocol, t.limit) == (dataset, protocol, limit)
            and t.setting.get("db") == "dataset"]


def main_irgen(t: Timing) -> bool:
    pairs = parse_setting(t.variant)
    return pairs.get("identifier", "rq") == "rq" and "fresh" not in pairs


def fig5_bars(timings: list[Timing], names) -> tuple[list, int, str] | None:
    """(bars, number of IRGen bars, caption words) for Figure 5 from one section's timings:
    the most common device / dtype / model, IRGen's largest batch per beam, the feature
    methods at that batch (or their largest). ``names(t)`` labels a feature method's bar."""
    if not timings:
        return None
    counts = pd.Series([t.where[:2] for t in timings]).value_counts()
    device, dtype = counts.index[0]
    chosen = [t for t in timings if t.where[:2] == (device, dtype)]
    irgen = [t for t in chosen if t.irgen and main_irgen(t)]
    model = "trained" if any(t.where[2] == "trained" for t in irgen) else "untrained"
    irgen = [t for t in irgen if t.where[2] == model]
    batch = max((t.batch for t in irgen), default=max(t.batch for t in chosen))
    beams = {}
    for t in irgen:
        if t.batch == batch:
            beams[int(t.setting["beam"])] = t
    bars = [(f"beam {b}", beams[b].seconds_per_100()) for b in sorted(beams)]
    ann: dict[tuple, Timing] = {}
    for t in sorted((t for t in chosen if not t.irgen), key=lambda t: (t.batch == batch, t.batch)):
        ann[(t.features, t.backend)] = t  # the batch that matches IRGen's, else the largest
    bars += [(names(t), t.seconds_per_100()) for t in ann.values()]
    if not bars:
        return None
    words = f"batch {batch}, {device} {dtype}" + (", IRGen untrained" if beams and model == "untrained" else "")
    irgen_px = {beams[b].input_px for b in beams} - {None}
    if len(irgen_px) == 1:
        words += f", IRGen's encoder reads {irgen_px.pop()} px"
    return bars, len(beams), words


def qps_lines(timings: list[Timing], names=lambda t: f"{t.features} / {t.backend}") -> list[plots.Line]:
    """Queries per second against batch size, one line per method x setting x database (of two batch sizes or more)."""
    groups: dict[tuple, list[Timing]] = {}
    for t in timings:
        key = (t.method, t.features, t.backend, t.variant, t.setting.get("beam", ""), t.setting.get("db"), t.where)
        groups.setdefault(key, []).append(t)
    lines = []
    for (method, features, backend, variant, beam, db, where), group in sorted(groups.items()):
        group.sort(key=lambda t: t.batch)
        if len(group) < 2:
            continue
        what = f"IRGen beam {beam}" if method == "irgen" else names(group[0])
        db_words = "" if db == "dataset" else f", {int(float(db)):,} synthetic ids"
        lines.append(plots.Line(f"{what}{db_words} ({where[0]} {where[1]})", "irgen" if method == "irgen" else features,
                                "beam" if method == "irgen" else backend, [t.batch for t in group],
                                [t.values.get("qps_batch", t.values.get("qps_single")) for t in group]))
    return lines
