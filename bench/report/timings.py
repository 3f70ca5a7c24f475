"""The rows of ``python -m bench.throughput`` (``results/throughput/``) as the data of report
figures: Figure 5's bars (seconds per 100 queries by stage, a generative method per beam beside
the feature + ANN methods) and queries per second against batch size, on the dataset's database
and on synthetic ones."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from methods.base import parse_setting

from ..results import ResultStore
from ..results.manifest import device_words
from . import names
from .cells import headline, natural_key

WHERE = ("batch", "db", "device", "dtype", "model")  # what a throughput setting adds to the method's own


@dataclass
class Timing:
    """One throughput cell: what ran and its per-stage ms per query."""

    dataset: str
    protocol: str
    limit: str
    method: str
    backend: str
    model: dict  # the results' model column
    setting: dict[str, str]
    values: dict[str, float]
    run_id: str

    @property
    def generative(self) -> bool:
        return names.spec(self.method).generative

    @property
    def query_setting(self) -> dict[str, str]:
        """The method's own setting (a beam), without the batch, database, device, dtype and model."""
        return {k: v for k, v in self.setting.items() if k not in WHERE}

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
        return seconds_per_100(self.values)


def seconds_per_100(values: dict[str, float]) -> dict[str, float]:
    """Seconds per 100 queries per stage, in pipeline order, from the ms_per_query_<stage> values."""
    ms = {m[len("ms_per_query_"):]: v for m, v in values.items()
          if m.startswith("ms_per_query_") and m != "ms_per_query_total"}
    return {s: ms[s] / 10.0 for s in names.ordered(ms, names.STAGES)}


@dataclass
class Bar:
    """One bar of Figure 5: what ran and its seconds per 100 queries by stage."""

    label: str
    seconds: dict[str, float]
    method: str
    backend: str
    setting: dict[str, str]  # the method's own (a beam)


def load_timings(results: Path) -> list[Timing]:
    table = ResultStore(Path(results) / "throughput").load()
    timings = []
    for cell_id, rows in table.groupby("cell_id", sort=False):
        first = rows.iloc[0]
        timings.append(Timing(first.dataset, first.protocol, str(first["limit"]), first.method, first.backend,
                              json.loads(first.model), parse_setting(first.setting),
                              dict(zip(rows.metric, rows.value.astype(float))), first.run_id))
    return timings


def hardware(results: Path, timings: list[Timing]) -> str:
    """The machine the timings ran on, in words (``several machines`` where they differ)."""
    found = set()
    for run_id in {t.run_id for t in timings}:
        path = Path(results) / "throughput" / "manifests" / f"{run_id}.json"
        if path.exists():
            found.add(device_words(json.loads(path.read_text()).get("hardware", {}), threads=True))
    return found.pop() if len(found) == 1 else ("several machines" if found else "hardware unknown")


def for_section(timings: list[Timing], dataset: str, protocol: str, limit: str) -> list[Timing]:
    """The section's timings on its own database (synthetic databases are left to the QPS figure)."""
    return [t for t in timings if (t.dataset, t.protocol, t.limit) == (dataset, protocol, limit)
            and t.setting.get("db") == "dataset"]


def setting_words(setting: dict) -> str:
    """``beam 10``."""
    return " ".join(f"{k} {v}" for k, v in sorted(setting.items()))


def fig5_bars(timings: list[Timing], label) -> tuple[list[Bar], str] | None:
    """(bars, caption words) for Figure 5 from one section's timings: the most common device /
    dtype / model, a generative method's largest batch per beam (its headline model), the feature
    methods at that batch (or their largest). ``label(t)`` names a feature method's bar."""
    if not timings:
        return None
    counts = pd.Series([t.where[:2] for t in timings]).value_counts()
    device, dtype = counts.index[0]
    chosen = [t for t in timings if t.where[:2] == (device, dtype)]
    generative = headline([t for t in chosen if t.generative])
    model = "trained" if any(t.where[2] == "trained" for t in generative) else "untrained"
    generative = [t for t in generative if t.where[2] == model]
    batch = max((t.batch for t in generative), default=max(t.batch for t in chosen))
    beams = {(t.method, setting_words(t.query_setting)): t for t in generative if t.batch == batch}
    several = len({m for m, _ in beams}) > 1
    bars = [Bar((f"{names.model(t.method).label}\n" if several else "") + words, t.seconds_per_100(), t.method,
                t.backend, t.query_setting) for (_, words), t in sorted(beams.items(), key=lambda kv: (
                    kv[0][0], natural_key(kv[0][1])))]
    ann: dict[tuple, Timing] = {}
    for t in sorted((t for t in chosen if not t.generative), key=lambda t: (t.batch == batch, t.batch)):
        ann[(t.method, t.backend)] = t  # the batch that matches the generative method's, else the largest
    bars += [Bar(label(t), t.seconds_per_100(), t.method, t.backend, t.query_setting) for t in ann.values()]
    if not bars:
        return None
    words = f"batch {batch}, {device} {dtype}" + (", untrained" if beams and model == "untrained" else "")
    px = {(names.model(t.method).label, t.input_px) for t in beams.values() if t.input_px is not None}
    if len(px) == 1:
        words += ", {} reads {} px images".format(*px.pop())
    return bars, words


def qps_groups(timings: list[Timing]) -> list[list[Timing]]:
    """Timings grouped into one line per method x model x setting x database (of two batch sizes or more)."""
    groups: dict[tuple, list[Timing]] = {}
    for t in timings:
        key = (t.method, t.backend, json.dumps(t.model, sort_keys=True), setting_words(t.query_setting),
               t.setting.get("db"), t.where)
        groups.setdefault(key, []).append(t)
    return [sorted(g, key=lambda t: t.batch) for _, g in sorted(groups.items()) if len(g) > 1]
