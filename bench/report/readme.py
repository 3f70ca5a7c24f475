"""``reports/README.md``: what the reports hold, which datasets and rules, every table and
figure, what could not be drawn and why, the cells that failed, and where the numbers came
from (the manifests' machines, packages and commits)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..definitions import METRICS, RULES_PART, short, words
from .cells import Section
from .names import PAPER_DATASETS, STAND_INS
from .tables import Table, markdown_table


def metric_words() -> str:
    """What the numbers mean, from ``bench.definitions``: for the README and the site."""
    return " ".join(["Accuracy values are percentages, every one computed from the cell's one ranking.",
                     *words(METRICS), RULES_PART, "Tables 1, 3, 4 and 6 give all three precision rules, Figure 3 "
                     f"draws {short('precision_official')}, and MAP@100 comes under all three conventions."])


LABEL_WORDS = (
    "Labels say what ran: a row names its method and what distinguishes its model, as the method describes it "
    "(methods/registry.py: a preset, an encoder, the side of the input images, an identifier kind, a length T, ...), "
    "an ANN row its backend and the build parameters its index was built with (Build, from the run's manifest, "
    "every default resolved). A paper row sits only beside a row that ran as the paper's model (the official "
    "recipe where both it and the paper's text ran). A model trained fewer optimisation steps than its preset's "
    "floor is marked [N steps, under the floor of F].")
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


def not_generated(tables: list[Table], figures) -> list[str]:
    """A line per table and per figure that could not be made, with the reason."""
    return ([f"{t.caption}: {t.skipped}." for t in tables if not t.blocks]
            + [f"{kind}: {f.skipped}." for kind, figs in figures for f in figs if not f.path])


def failure_lines(failures: pd.DataFrame) -> list[str]:
    """The grid's cells that did not finish, with the last line of their error and their log."""
    if failures.empty:
        return ["Every grid cell run so far finished."]
    shown = {"cell": "`{}`", "status": "{}", "seconds": "{:.0f} s", "reason": "{}", "log": "`{}`"}
    df = failures.sort_values("cell")[list(shown)].astype({"seconds": float})
    return [markdown_table(df, lambda row, c: shown[c].format(row[c]))]


def readme(sections: list[Section], tables: list[Table], figures, manifests: dict, reports: Path,
           failures: pd.DataFrame) -> str:
    out = ["# Reports", "",
           "Rebuilt from `results/` alone by `python -m bench.report --results results --reports reports` "
           "(no model is run); the same results give byte-identical files. Do not edit by hand.", "",
           metric_words(), "", LABEL_WORDS, "", f"> {PAPER_WORDS}", "",
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
    out += ([f"- {line}" for line in not_generated(tables, figures)]
            or ["Nothing: every table and figure has its inputs."]) + [""]
    out += ["## Failed or unavailable grid cells", "", "From `results/failures.csv` (`python -m bench.grid`).", ""]
    out += failure_lines(failures) + [""]
    out += ["## Provenance", "", "From `results/manifests/<run_id>.json` of the runs shown above.", ""]
    out += provenance(sections, manifests)
    return "\n".join(out).rstrip() + "\n"
