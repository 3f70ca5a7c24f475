"""The paper's Tables 1-6 from the cells (Markdown and CSV), our rows in percent beside the
paper's own where the paper measured the set that way, and measured the paper's way: the
precision tables give three rules (P: hits / K; P_off: the official evaluation's as its code
reads; P_rel: as the released code computed it, which the paper's columns sit beside), Table 5
three conventions of MAP@100 (the paper's beside the released one), and a paper row sits only beside a
cell that ran as the paper's model (IRGen's paper preset, a feature model at size=paper)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from methods.base import parse_setting as parse_pairs

from . import names
from .cells import Cell, Section, build_words, main_cells, model_label, representative, sort_key
from .names import IDENTIFIERS, LARGE_SETS, MISSING, SHORT
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


METRIC_COLUMN = re.compile(r"^(paper )?(P|P_off|P_rel|R|MRR|MAP|MAP_found|MAP_rel)@\d+$")
RULE_NOTES = {
    "precision_official": "P@K is the hits in the top K over K; P_off@K is the official IRGen evaluation's rule "
                          "(utils/evaluate.py: the hits over r where every relevant image was returned, the last "
                          "at rank r < K; else over K), the rule of the paper's precision columns. They agree where "
                          "every query has K or more relevant images (CUB200, Cars196 at K <= 8) and part where it "
                          "has fewer (In-shop: about 3).",
    "precision_released": "P_rel@K is the official rule as the released code computed it (numpy <= 1.24, the "
                          "authors' environment): a query with exactly one relevant image found scores hits / K even "
                          "with that image at rank 1; the paper's columns sit beside it.",
    "map_found": "The paper does not define MAP@100: MAP@100 divides each query's summed precision at its hits by "
                 "min(R, 100) (R: its relevant images), MAP_found@100 by the relevant images found in the top 100.",
    "map_released": "MAP_rel@100 is the released code's (utils/evaluate.py compute_ap): a trapezoid AP over the "
                    "hits in the top 100, divided by min(R, 10), so above 100 where a query finds more than 10 "
                    "relevant images; the paper's column sits beside it.",
}
STEPS_NOTE = ("[N steps, under the floor of F]: a model trained fewer optimisation steps than its preset's floor "
              "(min_steps); "
              "beside variants trained at the floor its row measures a smaller training budget, not the variant.")
NOT_PAPER_NOTE = ("Our rows that did not run the paper's model (IRGen's small preset, a feature model at size=small) "
                  "never sit beside the paper's numbers: the paper's rows then stand on lines of their own.")


def fmt(value, metric: bool) -> str:
    """A metric with one decimal, as the paper prints it; other numbers as integers where whole."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        if metric:
            return f"{value:.1f}"
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
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
    notes = [RULE_NOTES[m] for m in metrics if m in RULE_NOTES]
    notes += [STEPS_NOTE] if any(c.fields["short_steps"] for c in cells) else []
    if paper_table is not None and section.paper:
        notes += attach_paper(section, cells, lines, metrics, paper_table, labels)
    lines.sort(key=lambda fl: sort_key(fl[0]))
    df = pd.DataFrame([line for _, line in lines])
    return df.astype(object).where(df.notna(), None), notes


def attach_paper(section: Section, cells: list[Cell], lines: list, metrics: list[str], table: dict, labels) -> list[str]:
    """Add ``paper row`` and ``paper P_off@k`` columns (of the metrics the paper's table has): each
    paper row sits beside the representative of the cells its key matches among those that ran as
    the paper's model, or on a line of its own where we have no such cell."""
    rows = [r for r in table["rows"] if section.dataset in r["values"]]
    if not rows:
        return []
    paper_ks = table["ks"][section.dataset]
    printed = {m for r in rows for m, _ in r["values"][section.dataset]}
    columns = {f"paper {SHORT[m]}@{k}": (m, k) for m in metrics if m in printed for k in paper_ks}
    blank = {"paper row": None, **({"paper T": None} if any("T" in r for r in rows) else {}), **dict.fromkeys(columns)}
    ours = dict.fromkeys(lines[0][1]) if lines else {}
    for _, line in lines:
        line.update(blank)
    for row in rows:
        paper = {**blank, "paper row": row["label"], **({"paper T": row["T"]} if "T" in row else {}),
                 **{c: row["values"][section.dataset].get(mk) for c, mk in columns.items()}}
        # the official recipe first: what the authors' code ran, where both presets ran
        matched = sorted((c for c in cells if c.fields["as_paper"] and matches(row["key"], c.fields)),
                         key=lambda c: c.fields["preset"] != "official")
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
    if not all(c.fields["as_paper"] for c in cells):
        notes.append(NOT_PAPER_NOTE)
    return notes


def setting_words(setting: str) -> str:
    return "default" if setting == "-" else setting


def search_labels(f: dict, variant: str) -> dict:
    return {"Search": names.backend(f["backend"]).label, "Model": model_label(f, variant),
            "Build": build_words(f), "Setting": setting_words(f["setting"])}


def identifier_label(f: dict, rest: dict) -> str:
    """``HKM_100``; RQ-VAE-style rows say what ran (its latent grid over the encoder's stem map),
    since it is not the paper's RQ-VAE (8 x 8 x depth 4 over pixels, T = 256)."""
    label = IDENTIFIERS.get(f["identifier"], f["identifier"])
    rest = dict(rest)
    if f["identifier"] == "rqvae" and "grid" in rest and f["T"]:
        grid = int(rest.pop("grid"))
        label += (f" ({grid}x{grid} latent cells x depth {f['T'] // grid ** 2} over the encoder's stem map; "
                  f"the paper's RQ-VAE: 8x8 x 4 over pixels, T=256)")
    return label + (f" ({','.join(f'{k}={v}' for k, v in rest.items())})" if rest else "")


def ablation_labels(f: dict, variant: str) -> dict:
    rest = {k: v for k, v in parse_pairs(variant).items() if k not in ("identifier", "T", "fresh", "preset")}
    return {"Model": model_label(f), "Identifier": identifier_label(f, rest),
            "T": f["T"] if f["T"] is not None else MISSING, "Setting": setting_words(f["setting"])}


def fresh_labels(f: dict, variant: str) -> dict:
    return {**search_labels(f, variant), "Held out": f"{f['fresh']:.0%}"}


def precision_recall_table(name: str, caption: str, metric: str, paper: dict, sections: list[Section]) -> Table:
    table = Table(name, caption)
    for s in sections:
        cells = main_cells(s)
        if any(c.ks(metric) for c in cells):
            metrics = PRECISION_METRICS if metric == "precision" else [metric]
            table.blocks.append((s, *build_rows(s, cells, metrics, search_labels, paper)))
    if not table.blocks:
        table.skipped = f"no {metric}@K rows in results yet"
    return table


PRECISION_METRICS = ["precision", "precision_official", "precision_released"]
ABLATION_METRICS = PRECISION_METRICS + ["recall"]
MAP_METRICS = ["map", "map_found", "map_released"]
HKM_NOTE = ("HKM_k rows cluster f_cls of IRGen's own tokenizer encoder (fine-tuned on the train split), not "
            "FT-CLIP features as the paper does; T defaults to the paper's 4 / 3 / 2 for k = 100 / 200 / 500.")


def identifier_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table3_identifier", "Table 3: image identifier ablation (IRGen, variants identifier=...)")
    for s in sections:
        cells = [c for c in s.cells if c.irgen and not c.fields["fresh"]]
        if len({c.fields["identifier"] for c in cells}) > 1:
            rows, notes = build_rows(s, cells, ABLATION_METRICS, ablation_labels, paper)
            hkm = any(c.fields["identifier"].startswith("hkm") for c in cells)
            table.blocks.append((s, rows, notes + ([HKM_NOTE] if hkm else [])))
    if not table.blocks:
        table.skipped = "no dataset has IRGen runs with two or more identifier kinds (bench.run --identifier)"
    return table


def length_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table4_length", "Table 4: identifier length T (IRGen, RQ identifiers)")
    for s in sections:
        cells = [c for c in s.cells if c.irgen and not c.fields["fresh"] and c.fields["identifier"] == "rq"]
        if len({c.fields["T"] for c in cells}) > 1:
            table.blocks.append((s, *build_rows(s, cells, ABLATION_METRICS, ablation_labels, paper)))
    if not table.blocks:
        table.skipped = "no dataset has IRGen runs at two or more lengths T (bench.run --seq-len)"
    return table


def map_table(paper: dict, sections: list[Section]) -> Table:
    table = Table("table5_map100", "Table 5: MAP@100")
    with_map = [s for s in sections if any(c.get("map", 100) is not None for c in main_cells(s))]
    large = [s for s in with_map if s.dataset in LARGE_SETS]
    for s in large or with_map:
        cells = [c for c in main_cells(s) if c.get("map", 100) is not None]
        rows, notes = build_rows(s, cells, MAP_METRICS, search_labels, paper, fixed_ks=dict.fromkeys(MAP_METRICS, [100]))
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
        table.blocks.append((s, *build_rows(s, fresh + base, ABLATION_METRICS, fresh_labels, paper)))
    if not table.blocks:
        table.skipped = "no runs with held-out data yet (bench.run --method irgen --fresh 0.5)"
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
    f = cell.fields
    sources = {}
    for metric in COST_TIMES:
        source = cell.timing.get(metric, "measured")
        if cell.get(metric, 0) is not None and source != "measured":
            sources.setdefault(source.removeprefix("cached from "), []).append(COST_TIMES[metric].split(" (")[0])
    from_words = "; ".join(f"{', '.join(what)}: cached, {run}" for run, what in sources.items()) or "measured"
    return {"Search": names.backend(f["backend"]).label, "Model": model_label(f, cell.variant),
            "Device": f"{cell.device}, {cell.threads} threads", "Model MB": mb(cell.get("model_bytes", 0)),
            "Index MB": mb(cell.get("index_bytes", 0)), "Disk MB": mb(cell.get("index_disk_bytes", 0)),
            **{label: cell.get(metric, 0) for metric, label in COST_TIMES.items()}, "Times from": from_words,
            f"P@{k}": pct(cell.get("precision", k)), "Setting": setting_words(f["setting"]),
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
            groups.setdefault((c.method, c.features, c.backend, c.variant, c.device, c.threads), []).append(c)
        best = sorted((best_cell(g, ks[0]) for g in groups.values()), key=lambda c: sort_key(c.fields))
        df = pd.DataFrame([cost_row(c, ks[0]) for c in best])
        df = df.drop(columns=[c for c in ("Disk MB",) if not (df[c].fillna(0) > 0).any()])
        table.blocks.append((s, df.astype(object).where(df.notna(), None), list(COST_NOTES)))
    if not table.blocks:
        table.skipped = "no cell records its index's bytes yet (bench.run writes them as stats rows)"
    return table


def build_tables(sections: list[Section], paper: dict) -> list[Table]:
    t = paper["tables"]
    return [precision_recall_table("table1_precision", "Table 1: Precision@K", "precision", t["table1"], sections),
            precision_recall_table("table2_recall", "Table 2: Recall@K (1 if any of the top K is relevant)", "recall",
                                   t["table2"], sections),
            identifier_table(t["table3"], sections), length_table(t["table4"], sections),
            map_table(t["table5"], sections), fresh_table(t["table6"], sections), cost_table(sections)]
