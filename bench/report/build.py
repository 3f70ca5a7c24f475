"""Reports from results alone: ``python -m bench.report [--results DIR] [--reports DIR]``.

Reads ``results/`` (the results table, the manifests, the throughput timings, the sweeps,
the scaling rows, the failed cells, the rankings) and rewrites ``reports/``: the paper's Tables 1-6
(Markdown and CSV), Figures 3-6, an accuracy-versus-throughput plane per dataset, the
backends' recall-QPS planes and table, the scaling figure, ``README.md`` tying them
together with the hardware, packages and commit they came from, every number's 95% interval
and the paired tests (``intervals.csv``, ``paired_tests.csv``: bench/uncertainty.py), and the same as an
interactive site (``site/index.html``, ``bench.report.site``). It never loads a model,
and the same results give byte-identical reports.

The IRGen paper's own numbers (``configs/paper_numbers.yaml``) appear only in columns headed
"paper ...", and only for the paper's datasets under the paper protocol.
"""
from __future__ import annotations

import logging
from pathlib import Path

from methods.runtime.files import atomic_write

from ..results import ResultStore, failures_table
from ..uncertainty import write_intervals
from . import sweeps
from .cells import read_results, sections_from
from .figures import build_figures
from .paper import load_paper
from .readme import readme
from .db_size import write_scaling_figures
from .examples import build_examples
from .examples_figure import write_example_figures
from .examples_site import examples_page, write_example_files
from .site import write_site
from .tables import build_tables

log = logging.getLogger("bench.report")

# Files this module writes; stale ones (a dataset gone from results/) are removed first.
OUTPUTS = ("README.md", "table[1-6]_*.md", "table[1-6]_*.csv", "fig[3-6]_*.png", "tradeoff_*.png",
           "throughput_*.png", "pareto-*.png", "backends.md", "backends.csv", "scaling.png",
           "cost.md", "cost.csv", "intervals.csv", "paired_tests.csv", "examples-*.png")


def clear_outputs(reports: Path) -> None:
    for pattern in OUTPUTS:
        for path in sorted(reports.glob(pattern)):
            path.unlink()


def write_text(path: Path, text: str) -> Path:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def build(results: Path, reports: Path) -> list[Path]:
    """Rewrite ``reports`` from ``results``; returns the files written."""
    results, reports = Path(results), Path(reports)
    rows = read_results(results)
    manifests = ResultStore(results).read_manifests(set(rows["run_id"]) if not rows.empty else set())
    sections = sections_from(rows, manifests, results)
    paper = load_paper()
    reports.mkdir(parents=True, exist_ok=True)
    clear_outputs(reports)
    tables = build_tables(sections, paper)
    written = [write_text(reports / f"{t.name}{suffix}", text) for t in tables if t.blocks
               for suffix, text in ((".md", t.markdown()), (".csv", t.csv()))]
    figures = build_figures(sections, paper, manifests, reports, results)
    written += [f.path for _, figs in figures for f in figs if f.path]
    written += write_scaling_figures(results, reports)
    written += sweeps.write(results, reports)
    written += write_intervals(results, reports, [s.uncertainty for s in sections])
    examples = build_examples(sections, rows, results)
    written += write_example_figures(examples, reports)
    page, page_files = examples_page(examples)
    written += write_example_files(reports / "site", page_files)
    failures = failures_table(results).load()
    written.append(write_text(reports / "README.md", readme(sections, tables, figures, manifests, reports, failures)))
    written += write_site(reports / "site", sections, tables, figures, manifests, results, failures, [page])
    return written
