"""The paper's Tables 1-6 from the cells (Markdown and CSV), our rows in percent beside the
paper's own where the paper measured the set that way, and measured the paper's way: the
precision tables give the three precision rules, Table 5 the three conventions of MAP@100
(``bench.definitions``, whose sentences are the tables' notes), and a paper row sits only beside
a cell that ran as the paper's model (a field of its model at a ``paper`` value of its method's
description). Each of our accuracies comes with its 95% interval (``a ± b``; in the CSV
``<column>_low``, ``<column>_high``) and, per column, the paired test of the best generative row
against the best other row (``<column>_p``; a mark where it is not significant). Tables 3, 4 and 6
are the ablations of the model fields ``identifier``, ``T`` and ``fresh``, whichever method has
them; beside Table 3, what the identifiers are and the perfect-decoder bound."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pandas as pd

from ..definitions import (IDENTIFIERS, MAP_RULES, METRICS, NOT_SIGNIFICANT, PRECISION_RULES, RULES_PART, find,
                           interval_notes, label as metric_label, paired_words, units, words)
from ..uncertainty import RESAMPLES, Candidate, significant
from . import names
from .cells import Cell, Section, build_words, cell_label, main_cells, model_label, representative, series, sort_key
from .names import LARGE_SETS, MISSING
from .paper import key_fields, matches


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


METRIC_COLUMN = re.compile(r"^(paper )?(%s)(@\d+)?$" % "|".join(re.escape(m.short) for m in (*METRICS.values(),
                                                                                               *IDENTIFIERS.values())))
SPREAD = ("_low", "_high", "_p")  # a metric column's companions in the CSV: its interval's ends, its test's p-value
STEPS_NOTE = ("[N steps, under the floor of F]: a model trained fewer optimisation steps than its preset's floor "
              "(min_steps); beside variants trained at the floor its row measures a smaller training budget, not the "
              "variant.")
NOT_PAPER_NOTE = ("Our rows that did not run the paper's model (a preset other than the paper's) never sit beside "
                  "the paper's numbers: the paper's rows then stand on lines of their own.")


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def fmt(value, metric: bool) -> str:
    """A metric with one decimal, as the paper prints it; other numbers as integers where whole."""
    if missing(value):
        return MISSING
    if isinstance(value, float):
        if metric:
            return f"{value:.1f}"
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)


def shown(df: pd.DataFrame) -> list[str]:
    """The columns a reader sees: a metric column's companions (``SPREAD``) go into its text."""
    return [c for c in df.columns if not (c.endswith(SPREAD) and c.rsplit("_", 1)[0] in df.columns)]


def text(row: dict, column: str) -> str:
    """A value as the tables print it: a metric ``86.8 ± 0.9`` (half its interval's width) and
    ``NOT_SIGNIFICANT`` where its column's paired test is not significant."""
    value = row[column]
    low, high, p = (row.get(column + end) for end in SPREAD)
    words = fmt(value, bool(METRIC_COLUMN.match(column))) + plus_minus(value, low, high)
    return words + ("" if missing(p) or significant(p) else f" {NOT_SIGNIFICANT}")


def plus_minus(value, low, high) -> str:
    """`` ± 0.9``: half the width of a value's interval, to the value's one decimal ("" without one)."""
    return "" if missing(value) or missing(low) or missing(high) else f" ± {(high - low) / 2:.1f}"


def markdown_table(df: pd.DataFrame, show=text) -> str:
    """``df``'s ``shown`` columns as a Markdown table, each value as ``show(row, column)`` writes it,
    columns of numbers aligned right."""
    columns, rows = shown(df), df.to_dict("records")
    right = [any(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) for r in rows) for c in columns]
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    body = ["| " + " | ".join(show(row, c).replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def scaled(metric: str, value: float | None) -> float | None:
    """A metric's value as the tables print it: in percent where it is a share."""
    return pct(value) if find(metric).percent else value


def interval(cell: Cell, metric: str, k: int) -> tuple[float, float] | None:
    """metric@k's 95% interval as the tables print it (None: none, as for a time or a cell without its ranking)."""
    found = cell.spread.get((metric, k))
    return (scaled(metric, found[0]), scaled(metric, found[1])) if found else None


def metric_columns(cell: Cell, metric: str, k: int) -> dict:
    """A cell's ``P@10`` and its interval's ends (``P@10_low``, ``P@10_high``)."""
    name = metric_label(metric, k)
    low, high = interval(cell, metric, k) or (None, None)
    return {name: scaled(metric, cell.get(metric, k)), f"{name}_low": low, f"{name}_high": high}


def column_tests(section: Section, cells: list[Cell], lines: list[dict], columns: list[tuple[str, int]]) -> None:
    """Per metric@k, the paired test of the best generative cell against the best other one: its
    p-value (``<column>_p``) on both their lines."""
    for metric, k in columns if section.uncertainty is not None else []:
        candidates = [Candidate(c.cell_ids, float("nan") if c.get(metric, k) is None else c.get(metric, k),
                                c.spec.generative, str(i)) for i, c in enumerate(cells)]
        found = section.uncertainty.best_test(candidates, metric, k)
        if found and not missing(found["p_value"]):
            for side in (found["a"], found["b"]):
                lines[int(side.label)][f"{metric_label(metric, k)}_p"] = found["p_value"]


def spread_notes(cells: list[Cell], df: pd.DataFrame) -> list[str]:
    """What the intervals in ``df`` are (``bench.definitions``), and the paired tests' mark where it has tests."""
    kinds: dict[str, int] = {}
    for kind, n in (c.interval for c in cells if c.interval):
        kinds[kind] = max(kinds.get(kind, 0), n)
    ends = {c.rsplit("_", 1)[1] for c in df.columns if c.endswith(SPREAD)}
    return ((interval_notes(kinds, RESAMPLES) if "low" in ends and kinds else [])
            + ([paired_words(RESAMPLES)] if "p" in ends else []))


def frame(lines: list[dict]) -> pd.DataFrame:
    """The table's rows: each metric column followed by its companions, those with no value left out;
    missing values None."""
    df = pd.DataFrame(lines)
    df = df.drop(columns=[c for c in df.columns if c.endswith(SPREAD) and df[c].isna().all()])
    main = [c for c in df.columns if not c.endswith(SPREAD) or c.rsplit("_", 1)[0] not in df.columns]
    df = df[[x for c in main for x in [c, *(c + end for end in SPREAD if c + end in df.columns)]]]
    return df.astype(object).where(df.notna(), None)


def build_rows(section: Section, cells: list[Cell], metrics, labels, paper_table: dict | None,
               fixed_ks: dict[str, list[int]] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Our cells as rows (``labels(fields, cell)``'s columns, then metric@k in %), and where the paper
    measured this set, the paper's row beside the one of ours it describes, in columns of its own."""
    ks = {m: (fixed_ks or {}).get(m) or section.ks(m, cells) for m in metrics}
    lines = []
    for cell in cells:
        f = {**cell.fields, "setting": cell.setting}
        line = {**labels(f, cell), "Seeds": cell.seeds,
                **{name: v for m in metrics for k in ks[m] for name, v in metric_columns(cell, m, k).items()}}
        lines.append((f, line))
    column_tests(section, cells, [line for _, line in lines], [(m, k) for m in metrics for k in ks[m]])
    notes = words(metrics) + ([RULES_PART] if "precision_official" in metrics else [])
    notes += [STEPS_NOTE] if any(c.short_steps() for c in cells) else []
    notes += list(dict.fromkeys(n for c in cells for f in c.spec.fields if (n := f.notes.get(f.value(c.model)))))
    if paper_table is not None and section.paper:
        notes += attach_paper(section, cells, lines, metrics, paper_table, labels)
    lines.sort(key=lambda fl: sort_key(fl[0]))
    df = frame([line for _, line in lines])
    return df, notes + spread_notes(cells, df)


def attach_paper(section: Section, cells: list[Cell], lines: list, metrics, table: dict, labels) -> list[str]:
    """Add ``paper row`` and ``paper P_rel@k`` columns (of the metrics the paper's table has): each
    paper row sits beside the representative of the cells its key matches among those that ran as
    the paper's model, or on a line of its own where we have no such cell."""
    rows = [r for r in table["rows"] if section.dataset in r["values"]]
    if not rows:
        return []
    paper_ks = table["ks"][section.dataset]
    printed = {m for r in rows for m, _ in r["values"][section.dataset]}
    columns = {f"paper {metric_label(m, k)}": (m, k) for m in metrics if m in printed for k in paper_ks}
    blank = {"paper row": None, **({"paper T": None} if any("T" in r for r in rows) else {}), **dict.fromkeys(columns)}
    ours = dict.fromkeys(lines[0][1]) if lines else {}
    for _, line in lines:
        line.update(blank)
    for row in rows:
        paper = {**blank, "paper row": row["label"], **({"paper T": row["T"]} if "T" in row else {}),
                 **{c: row["values"][section.dataset].get(mk) for c, mk in columns.items()}}
        matched = sorted((c for c in cells if c.paper_rank is not None and matches(row["key"], c.fields)),
                         key=lambda c: c.paper_rank)
        if matched:
            lines[cells.index(representative(matched))][1].update(paper)
        else:
            fields = key_fields(row["key"])
            lines.append((fields, {**ours, **labels(fields, None), **paper}))
    notes = [f"Columns headed \"paper ...\" are the IRGen paper's {table['caption'].split(':')[0]} "
             "(percent, as printed); each sits beside the one of our rows it describes (a backend's default "
             f"setting, a generative method's largest beam), or on a row of its own ({MISSING} in our columns) "
             "where we have no such run."]
    if section.limit != "-":
        notes.append(f"Ours ran on at most {section.limit} images per split; the paper used the full set.")
    if any(c.paper_rank is None for c in cells):
        notes.append(NOT_PAPER_NOTE)
    return notes


def setting_words(setting: str) -> str:
    return "default" if setting == "-" else setting


def row_label(f: dict, cell: Cell | None, apart=()) -> str:
    """A row's model: a cell's label, or a paper row's (its key's fields)."""
    return cell_label(cell, apart) if cell else model_label(f["method"], f["model"], apart)


def search_labels(f: dict, cell: Cell | None, apart=()) -> dict:
    return {"Search": names.backend(cell.kind if cell else f["backend"]).label, "Model": row_label(f, cell, apart),
            "Build": build_words(f, cell.built_with if cell else None), "Setting": setting_words(f["setting"])}


ABLATED = ("identifier", "T")  # Tables 3 and 4: the ablations of a model's identifiers and their length


def ablation_labels(f: dict, cell: Cell | None) -> dict:
    """The model without its ablated fields, then a column each (the identifier kind in its words)."""
    spec = names.spec(f["method"])
    columns = {name[0].upper() + name[1:]: spec.model_field(name).words.get(f.get(name), f.get(name))
               for name in ABLATED}
    return {"Model": row_label(f, cell, ABLATED + ("fresh",)),
            **{c: MISSING if v is None else v for c, v in columns.items()}, "Setting": setting_words(f["setting"])}


def fresh_labels(f: dict, cell: Cell | None) -> dict:
    return {**search_labels(f, cell, ("fresh",)), "Held out": f"{f.get('fresh') or 0:.0%}"}


def precision_recall_table(name: str, caption: str, metric: str, paper: dict, sections: list[Section]) -> Table:
    table = Table(name, caption)
    for s in sections:
        cells = main_cells(s)
        if any(c.ks(metric) for c in cells):
            metrics = PRECISION_RULES if metric == "precision" else [metric]
            table.blocks.append((s, *build_rows(s, cells, metrics, search_labels, paper)))
    if not table.blocks:
        table.skipped = f"no {metric}@K rows in results yet"
    return table


ABLATION_METRICS = PRECISION_RULES + ("recall",)


def ablation_table(name: str, caption: str, ablated: str, paper: dict, sections: list[Section]) -> Table:
    """Table 3 or 4: the cells of the methods whose models have the field ``ablated``, at two or more
    of its values, every other field with a default at its headline (no held-out data, ...)."""
    table = Table(name, caption)
    for s in sections:
        cells = [c for c in s.cells if any(f.name == ablated for f in c.spec.fields) and all(
            f.value(c.model) == f.headline for f in c.spec.fields
            if f.name != ablated and f.headline is not None and f.default is not None)]
        if len({c.fields[ablated] for c in cells}) > 1:
            table.blocks.append((s, *build_rows(s, cells, ABLATION_METRICS, ablation_labels, paper)))
    if not table.blocks:
        table.skipped = f"no dataset has runs of a model at two or more values of its {ablated}"
    return table


IDENTIFIER_ROWS = ("Each row is a model at its largest beam (its representative setting, as in the figures), where "
                   "Invalid and Repeated beams were counted; models trained with part of the database held out "
                   "(Table 6) are left out.")
BOUND_ROWS = ("The bound does not depend on the beam: a row per beam a model ran puts its own P@K and R@K at each beam "
              "beside it, so its best beam at each K is the best of its rows; models trained with part of the "
              "database held out (Table 6) are left out.")
BOUND_METRICS = ("precision", "bound_precision", "recall", "bound_recall")


def identifier_tables(sections: list[Section]) -> list[Table]:
    """Beside Table 3, of the models whose cells describe their identifiers (``id_`` rows, whichever
    method writes them): what their identifiers are, and the perfect-decoder bound beside the
    model's own P@K and R@K at each beam."""
    what = Table("table3_identifiers", "Beside Table 3: the identifiers (images per identifier, prefix-tree fan-out, "
                                       "beams that end off the tree)")
    bound = Table("table3_bound", "Beside Table 3: the perfect-decoder bound against the model's own P@K and R@K")
    for s in sections:
        cells = [c for c in s.cells if c.ks("id_images_mean") and not c.fields.get("fresh")]
        for table, rows, metrics, about in ((what, [representative(g) for g in series(cells)], tuple(IDENTIFIERS),
                                             IDENTIFIER_ROWS), (bound, cells, BOUND_METRICS, BOUND_ROWS)):
            if rows:
                df, notes = build_rows(s, rows, metrics, ablation_labels, None)
                table.blocks.append((s, df, [about, units(metrics)] + notes))
    for table in (what, bound):
        if not table.blocks:
            table.skipped = "no cell describes its identifiers yet (IRGen's cells write id_ and bound_ rows)"
    return [what, bound]


def map_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table5_map100", "Table 5: MAP@100")
    with_map = [s for s in sections if any(c.get("map", 100) is not None for c in main_cells(s))]
    large = [s for s in with_map if s.dataset in LARGE_SETS]
    for s in large or with_map:
        cells = [c for c in main_cells(s) if c.get("map", 100) is not None]
        rows, notes = build_rows(s, cells, MAP_RULES, search_labels, paper, fixed_ks=dict.fromkeys(MAP_RULES, [100]))
        table.blocks.append((s, rows, notes))
    if table.blocks and not large:
        table.caption += " (no million-scale set in results yet: shown on the sets present)"
    if not table.blocks:
        table.skipped = "no MAP@100 rows in results yet (they need a ranking depth of 100 or more)"
    return table


def twin(cell: Cell) -> tuple:
    """What a cell is but its held-out share: a fresh cell and its twin trained on everything share it."""
    return cell.method, cell.backend, cell.setting, json.dumps({k: v for k, v in cell.model.items() if k != "fresh"},
                                                               sort_keys=True)


def fresh_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table6_fresh", "Table 6: fresh data (part of the database held out of training, fresh=...)")
    for s in sections:
        fresh = [c for c in s.cells if c.fields.get("fresh")]
        if not fresh:
            continue
        same = {twin(c) for c in fresh}
        base = [c for c in s.cells if not c.fields.get("fresh") and twin(c) in same]
        table.blocks.append((s, *build_rows(s, fresh + base, ABLATION_METRICS, fresh_labels, paper)))
    if not table.blocks:
        table.skipped = "no runs with held-out data yet (bench.run --fresh 0.5)"
    return table


COST_TIMES = {"fit_s": "Fit (s)", "feature_extract_s": "Feature extraction (s)", "build_s": "Index build (s)"}
COST_NOTES = [
    "The whole pipeline's cost, one row per method x model x backend, at the setting of its best P@K (the "
    "smallest K; ties: the faster setting). Model MB: the parameters and buffers of the network that answers "
    "queries. Index MB: what must stay in memory to answer them, measured one way for every method: the bytes of "
    "the index as its backend saves it, less the files it reads from disk while serving (Disk MB; SPANN's posting "
    "lists); IRGen's prefix tree and identifier table, serialised the same way.",
    "Fit (s): the wall time of training, or of loading the trained model from the cache (then small). Feature "
    "extraction: the database's features (IRGen: f_cls of every database image, which its identifiers are "
    "assigned from). Index build: the backend's build (IRGen: identifier assignment and the prefix tree). "
    "Times reused from the cache keep the seconds of the run that measured them; 'Times from' names that run.",
    "Batched queries/s: the query path measured in the cell's own run from the images (features or encoder, then "
    "the search), a batch (Batch) over its median whole-batch wall time.",
]


def mb(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def cost_row(cell: Cell, k: int) -> dict:
    sources = {}
    for metric in COST_TIMES:
        source = cell.timing.get(metric, "measured")
        if cell.get(metric, 0) is not None and source != "measured":
            sources.setdefault(source.removeprefix("cached from "), []).append(COST_TIMES[metric].split(" (")[0])
    from_words = "; ".join(f"{', '.join(what)}: cached, {run}" for run, what in sources.items()) or "measured"
    return {"Search": names.backend(cell.kind).label, "Model": cell_label(cell),
            "Device": f"{cell.device}, {cell.threads} threads", "Model MB": mb(cell.get("model_bytes", 0)),
            "Index MB": mb(cell.get("index_bytes", 0)), "Disk MB": mb(cell.get("index_disk_bytes", 0)),
            **{label: cell.get(metric, 0) for metric, label in COST_TIMES.items()}, "Times from": from_words,
            **metric_columns(cell, "precision", k), "Setting": setting_words(cell.setting),
            "Batch": cell.get("query_batch", 0), "Batched queries/s": cell.get("qps_batch", 0)}


def best_cell(cells: list[Cell], k: int) -> Cell:
    return max(cells, key=lambda c: (c.get("precision", k) or 0.0, c.qps))


def cost_table(sections: list[Section]) -> Table:
    table = Table("cost", "Cost of the whole pipeline: model and index bytes, training, extraction and build "
                          "time, queries/s at the best accuracy")
    for s in sections:
        ks = s.ks("precision")
        cells = [c for c in s.cells if c.get("index_bytes", 0) is not None and ks and c.get("precision", ks[0])
                 is not None]
        if not cells:
            continue
        groups: dict[tuple, list[Cell]] = {}
        for c in cells:
            groups.setdefault((*c.key, c.device, c.threads), []).append(c)
        best = sorted((best_cell(g, ks[0]) for g in groups.values()), key=lambda c: sort_key({**c.fields,
                                                                                               "setting": c.setting}))
        df = frame([cost_row(c, ks[0]) for c in best])
        df = df.drop(columns=[c for c in ("Disk MB",) if not (df[c].fillna(0) > 0).any()])
        table.blocks.append((s, df, COST_NOTES + spread_notes(best, df)))
    if not table.blocks:
        table.skipped = "no cell records its index's bytes yet (bench.run writes them as stats rows)"
    return table


def build_tables(sections: list[Section], paper: dict) -> list[Table]:
    t = paper["tables"]
    return [precision_recall_table("table1_precision", "Table 1: Precision@K", "precision", t["table1"], sections),
            precision_recall_table("table2_recall", "Table 2: Recall@K (1 if any of the top K is relevant)", "recall",
                                   t["table2"], sections),
            ablation_table("table3_identifier", "Table 3: image identifier ablation", "identifier", t["table3"],
                           sections), *identifier_tables(sections),
            ablation_table("table4_length", "Table 4: identifier length T", "T", t["table4"], sections),
            map_table(t["table5"], sections), fresh_table(t["table6"], sections), cost_table(sections)]
