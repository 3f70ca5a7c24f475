"""Reports from results alone: ``python -m bench.report [--results DIR] [--reports DIR]``.

Reads ``results/results.csv`` and ``results/manifests/*.json`` and rewrites ``reports/``: the
paper's Tables 1-6 (Markdown and CSV), Figures 3-6, an accuracy-versus-throughput plane per
dataset, and ``README.md`` tying them together with the hardware, packages and commit they
came from. It never loads a model, and the same results give byte-identical reports.

The IRGen paper's own numbers (``configs/paper_numbers.yaml``) appear only in columns headed
"paper ...", and only for the paper's datasets under the paper protocol.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml

from methods.base import parse_setting as parse_pairs

from . import plots, throughput_report
from .manifest import device_words
from .results import CELL_KEYS, ResultStore
from .scaling_report import write_scaling_figures

log = logging.getLogger("bench.report")

PAPER_NUMBERS = Path(__file__).resolve().parent.parent / "configs" / "paper_numbers.yaml"
PAPER_DATASETS = {"inshop": "In-shop Clothes", "cub200": "CUB-200-2011", "cars196": "Cars196",
                  "imagenet": "ImageNet-1k", "places365": "Places365-Standard"}
STAND_INS = {"fashion-mnist": "Fashion-MNIST", "digits": "sklearn digits"}
LARGE_SETS = ("imagenet", "places365")
MODELS = {"res101": "Res101-Img", "clip": "CLIP", "cgd": "CGD", "irt": "IRT_R", "ftclip": "FT-CLIP",
          "effnet": "EfficientNet-Lite0", "effnet-lite0 (ImageNet)": "EfficientNet-Lite0 (ImageNet)",
          "smallcnn": "SmallCNN", "irgen": "IRGen", "irgen-enc": "IRGen's encoder (f_cls)"}
BACKENDS = {"linear": "linear scan", "faiss-flat": "Faiss flat", "ivfpq": "Faiss IVF-PQ", "scann": "ScaNN",
            "spann": "SPANN", "beam": "beam search"}
IDENTIFIERS = {"random": "Random", "hkm100": "HKM_100", "hkm200": "HKM_200", "hkm500": "HKM_500",
               "rqvae": "RQ-VAE", "rq": "RQ (ours)"}
SHORT = {"precision": "P", "recall": "R", "mrr": "MRR", "map": "MAP"}
# Files this module writes; stale ones (a dataset gone from results/) are removed first.
OUTPUTS = ("README.md", "table[1-6]_*.md", "table[1-6]_*.csv", "fig[3-6]_*.png", "tradeoff_*.png",
           "throughput_*.png")
MISSING = "–"


# ---------------------------------------------------------------- results -> cells


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

    @property
    def irgen(self) -> bool:
        return self.method == "irgen"

    @cached_property
    def fields(self) -> dict:
        """What a paper row's key can name: method, features, backend, identifier, T, fresh."""
        v = parse_pairs(self.variant)
        return {"method": self.method, "features": self.features if not self.irgen else "irgen",
                "backend": self.backend if not self.irgen else "beam",
                "identifier": v.get("identifier", "rq") if self.irgen else None,
                "T": int(v["T"]) if "T" in v else None, "fresh": float(v.get("fresh", 0.0)),
                "beam": int(parse_pairs(self.setting).get("beam", 0)), "setting": self.setting}

    def get(self, metric: str, k: int) -> float | None:
        return self.values.get((metric, k))

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
        name = PAPER_DATASETS.get(self.dataset) or STAND_INS.get(self.dataset) or self.dataset
        extra = [f"{self.protocol} protocol"] if self.protocol != "paper" else []
        extra += [f"at most {self.limit} images per split"] if self.limit != "-" else []
        return f"{name} ({', '.join(extra)})" if extra else name

    @property
    def paper(self) -> bool:
        """Whether the paper measured this set this way, so its numbers may sit beside ours."""
        return self.dataset in PAPER_DATASETS and self.protocol == "paper"

    def ks(self, metric: str, cells: list[Cell] | None = None) -> list[int]:
        return sorted({k for c in (self.cells if cells is None else cells) for k in c.ks(metric)})


def read_results(results: Path) -> pd.DataFrame:
    """The rows of results/ that hold a value."""
    return ResultStore(results).load().dropna(subset=["value"])


def sections_from(df: pd.DataFrame) -> list[Section]:
    """Latest run per cell and metric (run ids sort by time), then the mean over seeds."""
    if df.empty:
        return []
    cell_keys = [c for c in CELL_KEYS if c != "seed"]
    df = df.sort_values("run_id", kind="stable")
    df = df.drop_duplicates(cell_keys + ["seed", "metric", "k"], keep="last")
    sections: dict[tuple, Section] = {}
    for keys, rows in df.groupby(cell_keys, sort=True):
        meaned = rows.groupby(["metric", "k"], sort=True)["value"].mean()
        cell = Cell(*keys[3:], values={(m, int(k)): float(v) for (m, k), v in meaned.items()},
                    run_ids=tuple(sorted(set(rows["run_id"]))), seeds=rows["seed"].nunique())
        sections.setdefault(keys[:3], Section(*keys[:3])).cells.append(cell)
    return [sections[k] for k in sorted(sections, key=lambda k: (k[0] not in PAPER_DATASETS, k))]


# ---------------------------------------------------------------- which cells go where


def sort_key(f: dict) -> tuple:
    """Paper order: search group, then model, then identifier, T, fresh, setting."""
    backends, models, ids = list(BACKENDS), list(MODELS), list(IDENTIFIERS)
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


def variant_words(variant: str) -> str:
    """What a variant adds to a model's name (IRGen's default RQ identifiers and held-out share left out)."""
    if variant == "-":
        return ""
    pairs = parse_pairs(variant)
    if not pairs:
        return variant
    return ",".join(f"{k}={v}" for k, v in pairs.items() if (k, v) != ("identifier", "rq") and k != "fresh")


def model_label(f: dict, variant: str = "-") -> str:
    name = MODELS.get(f["features"], f["features"])
    words = variant_words(variant)
    return f"{name} ({words})" if words else name


def line_label(cell: Cell, with_setting: bool = True) -> str:
    """``FT-CLIP / SPANN``, ``IRGen beam=10``: how a cell is named in legends."""
    f = cell.fields
    name = MODELS.get(f["features"], f["features"]) if not cell.irgen else "IRGen"
    base = name if cell.irgen else f"{name} / {BACKENDS.get(f['backend'], f['backend'])}"
    if variant_words(cell.variant):
        base += f" ({variant_words(cell.variant)})"
    return f"{base} {cell.setting}" if with_setting and cell.setting != "-" else base


# ---------------------------------------------------------------- the paper's numbers


def load_paper(path: Path = PAPER_NUMBERS) -> dict:
    """configs/paper_numbers.yaml, each row's value lists turned into {dataset: {(metric, k): value}}."""
    doc = yaml.safe_load(path.read_text())
    for table in doc["tables"].values():
        for row in table["rows"]:
            row["values"] = {}
            for metric in SHORT:
                for dataset, values in row.get(metric, {}).items():
                    ks = table["ks"][dataset]
                    row["values"].setdefault(dataset, {}).update(
                        {(metric, k): v for k, v in zip(ks, values) if v is not None})
    return doc


def matches(key: dict, fields: dict) -> bool:
    return all(fields.get(name) == value for name, value in key.items())


def key_fields(key: dict) -> dict:
    """A paper row's key filled out like a cell's fields, to sort and label rows only the paper has."""
    irgen = key.get("method") == "irgen"
    return {"method": "irgen" if irgen else key["features"], "features": "irgen" if irgen else key["features"],
            "backend": "beam" if irgen else key["backend"], "identifier": key.get("identifier", "rq" if irgen else None),
            "T": key.get("T"), "fresh": float(key.get("fresh", 0.0)), "beam": 0, "setting": MISSING}


# ---------------------------------------------------------------- tables


@dataclass
class Table:
    name: str  # file stem, e.g. table1_precision
    caption: str
    blocks: list[tuple[Section, pd.DataFrame, list[str]]] = field(default_factory=list)  # section, rows, notes
    skipped: str = ""

    def csv(self) -> str:
        frames = [df.assign(dataset=s.dataset, protocol=s.protocol, limit=s.limit) for s, df, _ in self.blocks]
        out = pd.concat(frames, ignore_index=True).infer_objects()
        out = out[["dataset", "protocol", "limit"] + [c for c in out.columns if c not in ("dataset", "protocol", "limit")]]
        return out.to_csv(index=False, lineterminator="\n", float_format="%.4f")

    def markdown(self, level: int = 1) -> str:
        lines = [f"{'#' * level} {self.caption}", ""]
        for section, df, notes in self.blocks:
            lines += [f"{'#' * (level + 1)} {section.title}", "", markdown_table(df), ""]
            lines += [f"- {n}" for n in notes] + ([""] if notes else [])
        return "\n".join(lines).rstrip() + "\n"


METRIC_COLUMN = re.compile(r"^(paper )?(P|R|MRR|MAP)@\d+$")


def fmt(value, metric: bool) -> str:
    """A metric with one decimal, as the paper prints it; other numbers as integers where whole."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.1f}" if metric or not value.is_integer() else str(int(value))
    return str(value)


def markdown_table(df: pd.DataFrame) -> str:
    metric = [bool(METRIC_COLUMN.match(c)) for c in df.columns]
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---:" if m else "---" for m in metric) + "|"
    body = ["| " + " | ".join(fmt(v, m) for v, m in zip(row, metric)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def build_rows(section: Section, cells: list[Cell], metrics: list[str], labels, paper_table: dict | None,
               fixed_ks: dict[str, list[int]] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Our cells as rows (label columns, then metric@k in %), and where the paper measured this
    set, the paper's row beside the one of ours it describes, in columns of its own."""
    ks = {m: (fixed_ks or {}).get(m) or section.ks(m, cells) for m in metrics}
    lines = []
    for cell in cells:
        line = {**labels(cell.fields, cell.variant)}
        line.update({f"{SHORT[m]}@{k}": pct(cell.get(m, k)) for m in metrics for k in ks[m]})
        lines.append((cell.fields, line))
    notes = []
    if paper_table is not None and section.paper:
        notes = attach_paper(section, cells, lines, metrics, paper_table, labels)
    lines.sort(key=lambda fl: sort_key(fl[0]))
    df = pd.DataFrame([line for _, line in lines])
    return df.astype(object).where(df.notna(), None), notes


def attach_paper(section: Section, cells: list[Cell], lines: list, metrics: list[str], table: dict, labels) -> list[str]:
    """Add ``paper row`` and ``paper P@k`` columns: each paper row sits beside the representative
    of the cells its key matches, or on a line of its own where we have no such cell."""
    rows = [r for r in table["rows"] if section.dataset in r["values"]]
    if not rows:
        return []
    paper_ks = table["ks"][section.dataset]
    columns = {f"paper {SHORT[m]}@{k}": (m, k) for m in metrics for k in paper_ks}
    blank = {"paper row": None, **({"paper T": None} if any("T" in r for r in rows) else {}), **dict.fromkeys(columns)}
    ours = dict.fromkeys(lines[0][1]) if lines else {}
    for _, line in lines:
        line.update(blank)
    for row in rows:
        paper = {**blank, "paper row": row["label"], **({"paper T": row["T"]} if "T" in row else {}),
                 **{c: row["values"][section.dataset].get(mk) for c, mk in columns.items()}}
        matched = [c for c in cells if matches(row["key"], c.fields)]
        if matched:
            lines[cells.index(representative(matched))][1].update(paper)
        else:
            fields = key_fields(row["key"])
            lines.append((fields, {**ours, **labels(fields, "-"), **paper}))
    notes = [f"Columns headed \"paper ...\" are the IRGen paper's {table['caption'].split(':')[0]} "
             "(percent, as printed); each sits beside the one of our rows it describes (a backend's default "
             f"setting, IRGen's largest beam), or on a row of its own ({MISSING} in our columns) where we have no such run."]
    if section.limit != "-":
        notes.append(f"Ours ran on at most {section.limit} images per split; the paper used the full set.")
    return notes


def setting_words(setting: str) -> str:
    return "default" if setting == "-" else setting


def search_labels(f: dict, variant: str) -> dict:
    return {"Search": BACKENDS.get(f["backend"], f["backend"]), "Model": model_label(f, variant),
            "Setting": setting_words(f["setting"])}


def ablation_labels(f: dict, variant: str) -> dict:
    rest = {k: v for k, v in parse_pairs(variant).items() if k not in ("identifier", "T", "fresh")}
    label = IDENTIFIERS.get(f["identifier"], f["identifier"])
    return {"Identifier": label + (f" ({','.join(f'{k}={v}' for k, v in rest.items())})" if rest else ""),
            "T": f["T"] if f["T"] is not None else MISSING, "Setting": setting_words(f["setting"])}


def fresh_labels(f: dict, variant: str) -> dict:
    return {**search_labels(f, variant), "Held out": f"{f['fresh']:.0%}"}


def precision_recall_table(name: str, caption: str, metric: str, paper: dict, sections: list[Section]) -> Table:
    table = Table(name, caption)
    for s in sections:
        cells = main_cells(s)
        if any(c.ks(metric) for c in cells):
            table.blocks.append((s, *build_rows(s, cells, [metric], search_labels, paper)))
    if not table.blocks:
        table.skipped = f"no {metric}@K rows in results yet"
    return table


def identifier_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table3_identifier", "Table 3: image identifier ablation (IRGen, variants identifier=...)")
    for s in sections:
        cells = [c for c in s.cells if c.irgen and not c.fields["fresh"]]
        if len({c.fields["identifier"] for c in cells}) > 1:
            rows, notes = build_rows(s, cells, ["precision", "recall"], ablation_labels, paper)
            table.blocks.append((s, rows, notes))
    if not table.blocks:
        table.skipped = "no dataset has IRGen runs with two or more identifier kinds (bench.run --identifier)"
    return table


def length_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table4_length", "Table 4: identifier length T (IRGen, RQ identifiers)")
    for s in sections:
        cells = [c for c in s.cells if c.irgen and not c.fields["fresh"] and c.fields["identifier"] == "rq"]
        if len({c.fields["T"] for c in cells}) > 1:
            table.blocks.append((s, *build_rows(s, cells, ["precision", "recall"], ablation_labels, paper)))
    if not table.blocks:
        table.skipped = "no dataset has IRGen runs at two or more lengths T (bench.run --seq-len)"
    return table


def map_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table5_map100", "Table 5: MAP@100")
    with_map = [s for s in sections if any(c.get("map", 100) is not None for c in main_cells(s))]
    large = [s for s in with_map if s.dataset in LARGE_SETS]
    for s in large or with_map:
        cells = [c for c in main_cells(s) if c.get("map", 100) is not None]
        rows, notes = build_rows(s, cells, ["map"], search_labels, paper, fixed_ks={"map": [100]})
        table.blocks.append((s, rows, notes))
    if table.blocks and not large:
        table.caption += " (no million-scale set in results yet: shown on the sets present)"
    if not table.blocks:
        table.skipped = "no MAP@100 rows in results yet (they need a ranking depth of 100 or more)"
    return table


def without_fresh(variant: str) -> str:
    return ",".join(f"{k}={v}" for k, v in parse_pairs(variant).items() if k != "fresh") or "-"


def fresh_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table6_fresh", "Table 6: fresh data (part of the database held out of training, variants fresh=...)")
    for s in sections:
        fresh = [c for c in s.cells if c.fields["fresh"]]
        if not fresh:
            continue
        same = {(c.method, c.features, c.backend, without_fresh(c.variant), c.setting) for c in fresh}
        base = [c for c in s.cells if not c.fields["fresh"]
                and (c.method, c.features, c.backend, c.variant, c.setting) in same]
        table.blocks.append((s, *build_rows(s, fresh + base, ["precision", "recall"], fresh_labels, paper)))
    if not table.blocks:
        table.skipped = "no runs with held-out data yet (bench.run --method irgen --fresh 0.5)"
    return table


def build_tables(sections: list[Section], paper: dict) -> list[Table]:
    t = paper["tables"]
    return [precision_recall_table("table1_precision", "Table 1: Precision@K", "precision", t["table1"], sections),
            precision_recall_table("table2_recall", "Table 2: Recall@K (1 if any of the top K is relevant)", "recall",
                                   t["table2"], sections),
            identifier_table(t["table3"], sections), length_table(t["table4"], sections),
            map_table(t["table5"], sections), fresh_table(t["table6"], sections)]


# ---------------------------------------------------------------- figures


@dataclass
class Figure:
    kind: str  # what the figure shows, for the README
    path: Path | None = None
    skipped: str = ""


def hardware_label(cells: list[Cell], manifests: dict) -> str:
    """``on NVIDIA H100`` / ``on AMD EPYC (2 CPUs)`` when every cell ran on the same machine."""
    labels = {device_words(manifests[r].get("hardware", {})) for c in cells for r in c.run_ids if r in manifests}
    if not labels:
        return "hardware unknown (no manifest)"
    return f"on {labels.pop()}" if len(labels) == 1 else "on several machines (see README)"


def fig3(section: Section, out: Path) -> Path | None:
    lines = []
    for group in series(main_cells(section)):
        cell = representative(group)
        ks = [k for k in cell.ks("curve_precision") if cell.get("curve_tpr", k) is not None]
        if ks:
            lines.append(plots.Line(line_label(cell), cell.fields["features"], cell.fields["backend"],
                                    [100 * cell.get("curve_tpr", k) for k in ks],
                                    [100 * cell.get("curve_precision", k) for k in ks]))
    if not lines:
        return None
    return plots.pr_curves(lines, f"Figure 3: precision vs true-positive rate, {section.title}",
                           out / f"fig3_pr_{section.slug}.png")


def fig4(section: Section, out: Path) -> Path | None:
    cells = [representative(g) for g in series(main_cells(section))]
    ks = section.ks("mrr", cells)
    bars = [plots.Line(line_label(c), c.fields["features"], c.fields["backend"], ks,
                       [pct(c.get("mrr", k)) for k in ks]) for c in cells if c.ks("mrr")]
    if not bars:
        return None
    return plots.grouped_bars(bars, ks, "K", "MRR@K (%)", f"Figure 4: mean reciprocal rank, {section.title}",
                              out / f"fig4_mrr_{section.slug}.png")


def stage_times(cell: Cell) -> dict[str, float]:
    """Seconds per 100 queries, per stage, from the ms_per_query_<stage> rows."""
    return {m[len("ms_per_query_"):]: v / 10.0 for (m, _), v in sorted(cell.values.items())
            if m.startswith("ms_per_query_")}


def fig5(section: Section, out: Path, paper: dict, manifests: dict, timings: list | None = None,
         timing_hw: str = "") -> Path | None:
    """From ``bench.throughput``'s timings of this dataset where there are any (warm-up, median
    of repeats, one batch size), else from the timings ``bench.run`` recorded while searching."""
    measured = throughput_report.fig5_bars(throughput_report.for_section(timings or [], section.dataset,
                                           section.protocol, section.limit), timing_bar_label)
    if measured:
        bars, n_beams, words = measured
        source = f"bench.throughput: {words}, median of repeats, {timing_hw}"
    else:
        cells = main_cells(section)
        beams = sorted((c for c in cells if c.irgen and stage_times(c)), key=lambda c: c.fields["beam"])
        ann = [c for c in (representative(g) for g in series([c for c in cells if not c.irgen])) if stage_times(c)]
        if not beams and not ann:
            return None
        bars = [(f"beam {c.fields['beam']}", stage_times(c)) for c in beams]
        bars += [(timing_bar_label(c), stage_times(c)) for c in ann]
        n_beams = len(beams)
        source = f"bench.run search timings, {hardware_label(beams + ann, manifests)}"
    refs = []
    if section.paper:
        hardware = paper["throughput"]["hardware"]
        refs = [(f"beam {b}", 100 * s, f"paper, total on one {hardware}")
                for b, s in sorted(paper["throughput"]["seconds_per_query"].items())
                if any(label == f"beam {b}" for label, _ in bars)]
    what = ("IRGen search time vs beam size, beside feature + ANN search" if n_beams
            else "feature + ANN search time (no IRGen timings yet)")
    title = f"Figure 5: {what}\n{section.title}; {source}"
    return plots.stage_bars(bars, n_beams, refs, title, out / f"fig5_speed_{section.slug}.png")


def timing_bar_label(t) -> str:
    """A feature method's bar in Figure 5: its model's name wrapped to the bar's width, then its backend
    (and the side of its input images, where the timing recorded it)."""
    model = "\n".join(textwrap.wrap(MODELS.get(t.features, t.features), 12))
    px = getattr(t, "input_px", None)
    return f"{model}\n{BACKENDS.get(t.backend, t.backend)}" + (f"\n{px} px" if px else "")


def throughput_fig(section: Section, out: Path, timings: list, timing_hw: str) -> Path | None:
    mine = [t for t in timings if (t.dataset, t.protocol, t.limit) == (section.dataset, section.protocol, section.limit)]
    return throughput_report.qps_figure(mine, f"Queries per second vs batch size: {section.title}\n{timing_hw}",
                                        out / f"throughput_{section.slug}.png",
                                        lambda t: f"{MODELS.get(t.features, t.features)} / {BACKENDS.get(t.backend, t.backend)}")


def fig6_sections(sections: list[Section]) -> list[Section]:
    """The million-scale sets where they ran, else every set ranked to depth 100 or more."""
    large = [s for s in sections if s.dataset in LARGE_SETS and s.ks("precision")]
    deep = [s for s in sections if max(s.ks("curve_precision") + s.ks("precision"), default=0) >= 100]
    return large or deep


def fig6(section: Section, out: Path) -> Path | None:
    lines = []
    for group in series(main_cells(section)):
        cell = representative(group)
        values = {k: cell.get("curve_precision", k) for k in cell.ks("curve_precision")}
        values.update({k: cell.get("precision", k) for k in cell.ks("precision")})
        ks = sorted(values)
        lines.append(plots.Line(line_label(cell), cell.fields["features"], cell.fields["backend"], ks,
                                [100 * values[k] for k in ks]))
    return plots.precision_vs_k(lines, f"Figure 6: precision vs K, {section.title}",
                                out / f"fig6_precision_{section.slug}.png")


def tradeoff_k(section: Section) -> int | None:
    return max((k for k in section.ks("precision") if k <= 10), default=None)


def tradeoff(section: Section, out: Path, manifests: dict) -> Path | None:
    k = tradeoff_k(section)
    cells = [c for c in main_cells(section) if c.get("qps", 0) and k and c.get("precision", k) is not None]
    if not cells:
        return None
    groups = [sorted(g, key=lambda c: c.get("qps", 0)) for g in series(cells)]
    lines = [plots.Line(line_label(g[0], with_setting=False), g[0].fields["features"], g[0].fields["backend"],
                        [c.get("qps", 0) for c in g], [100 * c.get("precision", k) for c in g],
                        [c.setting for c in g]) for g in groups]
    title = (f"Accuracy vs throughput, every method: {section.title}\n"
             f"{hardware_label(cells, manifests)}")
    return plots.tradeoff(lines, k, title, out / f"tradeoff_{section.slug}.png")


def build_figures(sections: list[Section], paper: dict, manifests: dict, out: Path,
                  results: Path | None = None) -> list[tuple[str, list[Figure]]]:
    """Per kind of figure, one Figure per dataset (path, or why it was not drawn)."""
    deep = fig6_sections(sections)
    timings = throughput_report.load_timings(results) if results is not None else []
    timing_hw = throughput_report.hardware(results, timings) if timings else ""
    kinds = [("Figure 3: precision vs true-positive rate", "no curve_precision / curve_tpr rows", lambda s: fig3(s, out)),
             ("Figure 4: MRR@K", "no mrr rows", lambda s: fig4(s, out)),
             ("Figure 5: search time per 100 queries vs beam size", "no timings (ms_per_query_<stage>)",
              lambda s: fig5(s, out, paper, manifests, timings, timing_hw)),
             ("Queries per second vs batch size (bench.throughput)", "no bench.throughput rows",
              lambda s: throughput_fig(s, out, timings, timing_hw)),
             ("Figure 6: precision vs K", "not a million-scale set, nor ranked to depth 100",
              lambda s: fig6(s, out) if any(s is d for d in deep) else None),
             ("Accuracy (P@10 or the largest K <= 10) vs queries per second, Pareto front marked",
              "no cell with both qps and P@K for a K <= 10", lambda s: tradeoff(s, out, manifests))]
    built = []
    for kind, why, draw in kinds:
        figures = []
        for s in sections:
            path = draw(s)
            figures.append(Figure(f"{kind}, {s.title}", path, "" if path else f"{s.title}: {why}"))
        built.append((kind, figures))
    return built


# ---------------------------------------------------------------- README


def read_manifests(results: Path, run_ids: set[str]) -> dict[str, dict]:
    manifests = {}
    for run_id in sorted(run_ids):
        path = results / "manifests" / f"{run_id}.json"
        if path.exists():
            manifests[run_id] = json.loads(path.read_text())
    return manifests


def provenance(sections: list[Section], manifests: dict) -> list[str]:
    """One block per distinct machine + packages + commit among the runs the reports show."""
    envs: dict[str, dict] = {}
    missing = []
    for s in sections:
        for run_id in sorted({r for c in s.cells for r in c.run_ids}):
            if run_id not in manifests:
                missing.append(run_id)
                continue
            m = manifests[run_id]
            code = m.get("code", {})
            key = json.dumps([m.get("hardware", {}), m.get("packages", {}), code], sort_keys=True)
            env = envs.setdefault(key, {"manifest": m, "runs": set(), "datasets": set()})
            env["runs"].add(run_id)
            env["datasets"].add(s.slug)
    lines = []
    for i, env in enumerate(envs.values(), 1):
        m = env["manifest"]
        code = m.get("code", {})
        hw = m.get("hardware", {})
        lines += [f"### Environment {i}", "",
                  f"- code: commit `{code.get('commit', 'unknown')}`"
                  + (" with uncommitted changes (dirty)" if code.get("dirty") else " (clean)"),
                  "- hardware: " + ", ".join(f"{k} {hw[k]}" for k in sorted(hw)),
                  "- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(m.get("packages", {}).items())),
                  f"- runs: {len(env['runs'])} ({', '.join(sorted(env['runs']))}), datasets: "
                  + ", ".join(sorted(env["datasets"])), ""]
    if missing:
        lines += [f"- no manifest found for run(s) {', '.join(sorted(set(missing)))}", ""]
    return lines or ["No runs in results yet.", ""]


def dataset_lines(sections: list[Section]) -> list[str]:
    lines = []
    for s in sections:
        if s.paper:
            where = "one of the paper's datasets: the paper's numbers are shown beside ours"
        elif s.dataset in PAPER_DATASETS:
            where = f"one of the paper's datasets, but under the {s.protocol} protocol: no paper column"
        elif s.dataset in STAND_INS:
            where = "the embedded stand-in, not in the paper: no paper column"
        else:
            where = "not in the paper: no paper column"
        if s.paper and s.limit != "-":
            where += f" (ours on at most {s.limit} images per split; the paper used the full set)"
        seeds = max(c.seeds for c in s.cells)
        avg = f", means over {seeds} seeds" if seeds > 1 else ""
        cells = f"{len(s.cells)} cell{'s' if len(s.cells) != 1 else ''}"
        lines.append(f"- **{s.title}** (`{s.slug}`): {cells}{avg}; {where}.")
    return lines


def readme(sections: list[Section], tables: list[Table], figures, manifests: dict, reports: Path) -> str:
    out = ["# Reports", "",
           "Rebuilt from `results/` alone by `python -m bench.report --results results --reports reports` "
           "(no model is run); the same results give byte-identical files. Do not edit by hand.", "",
           "Accuracy values are percentages: P@K is Precision@K, R@K Recall@K as the paper defines it "
           "(1 if any of the top K shares the query's class), MRR@K mean reciprocal rank, MAP@100 mean average "
           "precision at 100.", "",
           "> **The paper's numbers are the paper's, not ours.** Columns headed \"paper ...\" (and the paper's "
           "marks in Figure 5) are copied from the IRGen paper (Zhang et al., ECCV 2024; `configs/paper_numbers.yaml`) "
           "for comparison; this harness did not produce them and they are never mixed into our columns. They appear "
           "only for the paper's datasets (In-shop, CUB200, Cars196, ImageNet, Places365) under the paper protocol. "
           "Where a dataset is the embedded stand-in (fashion-mnist / digits) there is no paper column.", "",
           "## Datasets", "", *(dataset_lines(sections) or ["No results yet: run `./run_all.sh --quick`."]), "",
           "## Contents", ""]
    for t in tables:
        out.append(f"- [{t.caption}]({t.name}.md) ([CSV]({t.name}.csv))" if t.blocks else f"- {t.caption}: not yet")
    for kind, figs in figures:
        links = [f"[{f.path.stem}]({f.path.name})" for f in figs if f.path]
        out.append(f"- {kind}: " + (", ".join(links) if links else "not yet"))
    sweeps = sorted(p.name for p in reports.glob("pareto-*.png"))
    if sweeps:
        out.append("- Backend parameter sweeps (bench.sweep): " + ", ".join(f"[{p}]({p})" for p in sweeps))
    if (reports / "scaling.png").exists():
        out.append("- Scaling with the database size, IRGen's parts and each backend (bench.scaling): "
                   "[scaling.png](scaling.png)")
    if (reports / "backends_benchmark.md").exists():
        out.append("- Search backends' recall@10 and QPS (benchmarks/bench_backends.py): "
                   "[backends_benchmark.md](backends_benchmark.md)")
    out += ["", "## Tables", ""]
    for t in tables:
        out.append(t.markdown(level=3) if t.blocks else f"### {t.caption}\n\nNot generated: {t.skipped}.\n")
    out += ["## Figures", ""]
    for kind, figs in figures:
        out += [f"### {kind}", ""]
        out += [f"![{f.kind}]({f.path.name})\n" for f in figs if f.path]
        if not any(f.path for f in figs):
            out += ["Not generated: " + "; ".join(f.skipped for f in figs) + "." if figs else
                    "Not generated: no results yet.", ""]
    out += ["## Not generated yet", ""]
    skipped = [f"- {t.caption}: {t.skipped}." for t in tables if not t.blocks]
    skipped += [f"- {kind}: {f.skipped}." for kind, figs in figures for f in figs if not f.path]
    out += (skipped or ["Nothing: every table and figure has its inputs."]) + [""]
    out += ["## Provenance", "", "From `results/manifests/<run_id>.json` of the runs shown above.", ""]
    out += provenance(sections, manifests)
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- main


def clear_outputs(reports: Path) -> None:
    for pattern in OUTPUTS:
        for path in sorted(reports.glob(pattern)):
            path.unlink()


def build(results: Path, reports: Path) -> list[Path]:
    """Rewrite ``reports`` from ``results``; returns the files written."""
    sections = sections_from(read_results(results))
    paper = load_paper()
    manifests = read_manifests(results, {r for s in sections for c in s.cells for r in c.run_ids})
    reports.mkdir(parents=True, exist_ok=True)
    clear_outputs(reports)
    tables = build_tables(sections, paper)
    written = []
    for t in tables:
        if t.blocks:
            for suffix, text in ((".md", t.markdown()), (".csv", t.csv())):
                path = reports / f"{t.name}{suffix}"
                path.write_text(text)
                written.append(path)
    figures = build_figures(sections, paper, manifests, reports, results)
    written += [f.path for _, figs in figures for f in figs if f.path]
    written += write_scaling_figures(results, reports)
    (reports / "README.md").write_text(readme(sections, tables, figures, manifests, reports))
    return written + [reports / "README.md"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not (args.results / "results.csv").exists():
        log.warning("%s has no results.csv yet: the reports will say so (run ./run_all.sh --quick)", args.results)
    written = build(args.results, args.reports)
    log.info("wrote %d files to %s (see %s)", len(written), args.reports, args.reports / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
