"""``reports/README.md``: what the reports hold, which datasets and rules, every table and
figure, what could not be drawn and why, the cells that failed, and where the numbers came
from (the manifests' machines, packages and commits)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .cells import Section
from .names import PAPER_DATASETS, STAND_INS
from .tables import Table

# What the numbers mean and whose they are: said once, here, for the README and the site
METRIC_WORDS = (
    "Accuracy values are percentages, every one computed from the cell's one ranking. P@K is the hits in the top K "
    "over K; P_off@K is the rule of the official IRGen evaluation (utils/evaluate.py, compute_map with kappas), "
    "which the paper's tables report: a query whose relevant images were all returned, the last at rank r < K, has "
    "its hits divided by r instead of K. P_rel@K is that rule as the released code computed it on the numpy of its "
    "environment (<= 1.24): a query with exactly one relevant image found scores hits / K. Tables 1, 3, 4 and 6 "
    "give all three, the paper's precision columns (\"paper P_rel@K\") sit beside P_rel, the rule the authors' "
    "code computed, and Figure 3 draws P_off. The rules agree where a query has K or more relevant images "
    "(CUB200, Cars196: 30-40 per class, K <= 8) and part where it has fewer: on In-shop (about 3 per item) P@10 "
    "cannot pass about 32%, while the paper prints 87.0 for IRGen. R@K is 1 if any of the top K shares the query's "
    "class (the paper's Recall@K); MRR@K the mean reciprocal rank of the first relevant result within K. MAP@100, "
    "which the paper does not define, is given under both common conventions: MAP@100 divides a query's summed "
    "precision at its hits by min(R, 100), MAP_found@100 by the relevant images found in the top 100 (R: its "
    "relevant images); MAP_rel@100, beside the paper's column, is the released code's trapezoid AP over min(R, 10), "
    "which passes 100 where a query finds more than 10. MAP@R and R-Precision (bench.run's terminal table) see the ranking cut at --depth (100); "
    "its R>depth column gives the share of queries with more relevant images than that, for which they are cut short.")
LABEL_WORDS = (
    "Labels say what ran: an IRGen row names its preset and encoder (\"IRGen (small, EfficientNet-Lite0 64 px; "
    "T=4)\", \"IRGen (paper text, CLIP ViT-B/16 224 px)\" for the paper's text, \"IRGen (official recipe, ...)\" for "
    "what the authors' released code runs), a feature model its size (size=small: the same code path "
    "with a small backbone, what runs without the pretrained files), an ANN row the build parameters its index was "
    "built with (Build, from the run's manifest, every default resolved). A paper row sits only beside a row that ran "
    "as the paper's model (IRGen's official or paper preset, the official one where both ran; a feature model at "
    "size=paper). A model trained fewer optimisation "
    "steps than its preset's floor is marked [N steps, under the floor of F].")
PAPER_WORDS = ("**The paper's numbers are the paper's, not ours.** Columns headed \"paper ...\" (and the paper's "
               "marks in Figure 5) are copied from the IRGen paper (Zhang et al., ECCV 2024; "
               "`configs/paper_numbers.yaml`) for comparison; this harness did not produce them and they are never "
               "mixed into our columns. They appear only for the paper's datasets (In-shop, CUB200, Cars196, "
               "ImageNet, Places365) under the paper protocol. Where a dataset is the embedded stand-in "
               "(fashion-mnist / digits) there is no paper column.")


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


def failure_lines(failures: pd.DataFrame) -> list[str]:
    """The grid's cells that did not finish, with the last line of their error and their log."""
    if failures.empty:
        return ["Every grid cell run so far finished."]
    lines = ["| cell | status | after | last line of the error | log |", "|---|---|---:|---|---|"]
    for _, f in failures.sort_values("cell").iterrows():
        reason = str(f["reason"]).replace("|", "\\|")
        lines.append(f"| `{f['cell']}` | {f['status']} | {float(f['seconds']):.0f} s | {reason} | `{f['log']}` |")
    return lines


def readme(sections: list[Section], tables: list[Table], figures, manifests: dict, reports: Path,
           failures: pd.DataFrame) -> str:
    out = ["# Reports", "",
           "Rebuilt from `results/` alone by `python -m bench.report --results results --reports reports` "
           "(no model is run); the same results give byte-identical files. Do not edit by hand.", "",
           METRIC_WORDS, "", LABEL_WORDS, "", f"> {PAPER_WORDS}", "",
           "## Datasets", "", *(dataset_lines(sections) or ["No results yet: run `./run_all.sh --quick`."]), "",
           "## Contents", ""]
    for t in tables:
        out.append(f"- [{t.caption}]({t.name}.md) ([CSV]({t.name}.csv))" if t.blocks else f"- {t.caption}: not yet")
    for kind, figs in figures:
        links = [f"[{f.path.stem}]({f.path.name})" for f in figs if f.path]
        out.append(f"- {kind}: " + (", ".join(links) if links else "not yet"))
    sweeps = sorted(p.name for p in reports.glob("pareto-*.png"))
    if sweeps:
        out.append("- Backend recall-QPS sweeps (bench.sweep, bench.scaling): "
                   + ", ".join(f"[{p}]({p})" for p in sweeps))
    if (reports / "backends.md").exists():
        out.append("- Search backends' recall and queries per second, per swept set: [backends.md](backends.md) "
                   "([CSV](backends.csv))")
    if (reports / "scaling.png").exists():
        out.append("- Scaling with the database size, IRGen's parts and each backend (bench.scaling): "
                   "[scaling.png](scaling.png)")
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
    out += ["## Failed or unavailable grid cells", "", "From `results/failures.csv` (`python -m bench.grid`).", ""]
    out += failure_lines(failures) + [""]
    out += ["## Provenance", "", "From `results/manifests/<run_id>.json` of the runs shown above.", ""]
    out += provenance(sections, manifests)
    return "\n".join(out).rstrip() + "\n"
