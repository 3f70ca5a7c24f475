"""bench.report on synthetic results: every table and figure is written, ours and the paper's
numbers stay in separate columns (the paper's only for its datasets), a second run writes the
same bytes, missing inputs are noted rather than fatal, and no model is ever loaded."""
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.definitions import METRICS
from bench.evaluate import evaluate
from bench.report import __main__ as report_command, names
from bench.report.cells import model_label, read_results, sections_from, steps_words
from bench.report.figures import fig6_sections
from bench.report.paper import load_paper
from bench.report.readme import PAPER_WORDS
from bench.report.tables import NOT_PAPER_NOTE, STEPS_NOTE, build_tables, map_table
from bench.results import ResultStore
from bench.results.migrate import model_of_old_rows
from bench.speed.query_timing import speed_rows
from methods.registry import describe

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["run_id", "cell_id", "dataset", "protocol", "limit", "seed", "method", "variant", "features",
           "backend", "setting", "metric", "k", "value"]  # as written before the model column: read by migration
IRGEN = describe("irgen")
BEAM = names.backend("beam-search").label
IRGEN_STAGES = {"encoder": 0.2, "decoder": 1.0, "masks": 0.3, "lookup": 0.05}


def ranking(quality: float, rng: np.random.Generator, n_query=40, n_class=8, per_class=15, depth=100):
    """Ranked ids where a relevant item's score is raised by ``quality``: (ids, db labels, query labels)."""
    db = np.repeat(np.arange(n_class), per_class)
    queries = rng.integers(0, n_class, n_query)
    scores = rng.normal(size=(n_query, len(db))) + 3 * quality * (db[None, :] == queries[:, None])
    return np.argsort(-scores, axis=1)[:, :depth], db, queries


def cell(run_id, dataset, method, backend="-", setting="-", variant="-", quality=0.5, timings=None, ks=(1, 10, 20, 30),
         seed=0, stats=None):
    rng = np.random.default_rng(zlib.crc32(f"{dataset} {method} {backend} {setting} {variant} {seed}".encode()))
    ids, db, queries = ranking(quality, rng)
    metrics = evaluate(ids, db, queries, list(ks))
    timings = timings or {"feature": 0.4, "search": 0.02}  # seconds of one batch of all the queries
    metrics += speed_rows([sum(timings.values())], len(queries), timings)
    metrics += [(name, 0, value) for name, value in (stats or {}).items()]
    features = (f"irgen-{'effnet' if 'preset=small' in variant else 'clip-vit-b16'}" if method == "irgen"
                else method)
    key = dict(dataset=dataset, protocol="paper", limit="-", seed=seed, method=method, variant=variant,
               features=features, backend=backend, setting=setting)
    cell_id = f"{dataset}-{method}-{backend}-{setting}-{variant}-{seed}"
    return [{**key, "run_id": run_id, "cell_id": cell_id, "metric": m, "k": k, "value": v} for m, k, v in metrics]


def irgen_cells(run_id, dataset, variant="preset=paper,identifier=rq,T=4", beams=(1, 10, 30), quality=0.9,
                ks=(1, 10, 20, 30), stats=None):
    rows = []
    for beam in beams:
        timings = {stage: s * (1 + beam / 10) for stage, s in IRGEN_STAGES.items()}
        rows += cell(run_id, dataset, "irgen", "beam-search", f"beam={beam}", variant=variant, quality=quality,
                     timings=timings, ks=ks, stats=stats)
    return rows


def manifest(run_id, device="cpu", gpu=None, built_with=None):
    hardware = {"cpu_model": "Test CPU", "cpus": 2, "device": device, **({"gpu": gpu} if gpu else {})}
    method = {"method": {"backend_built_with": built_with}} if built_with else {}
    return {"run_id": run_id, "code": {"commit": "abc123", "dirty": False}, "hardware": hardware,
            "packages": {"numpy": "2.0", "python": "3.11"}, **method}


def write_results(root: Path, rows: list[dict], run_ids: list[str], built_with: dict | None = None) -> Path:
    """results.csv and a manifest per run id (``built_with``: run id -> its backend's build parameters)."""
    (root / "manifests").mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(root / "results.csv", index=False)
    for run_id in run_ids:
        man = manifest(run_id, built_with=(built_with or {}).get(run_id))
        (root / "manifests" / f"{run_id}.json").write_text(json.dumps(man))
    return root


IVFPQ_RUN = "20260101-000000-eeeeee"
IVFPQ_BUILT = {"M": 4, "nbits": 8, "nlist": 300, "refine_factor": 0}
SMALL_STEPS = {"train_steps_tokenizer": 45.0, "train_steps_decoder": 46.0, "preset_min_steps": 120.0}


def synthetic_results(root: Path) -> Path:
    """In-shop (a paper dataset: the paper's models, backends, IRGen beams, identifier / length /
    fresh ablations) and digits (the stand-in: one feature model, two backends with a
    query-parameter sweep)."""
    rows = []
    for backend, quality in (("linear", 0.6), ("spann", 0.5)):
        rows += cell("20260101-000000-aaaaaa", "inshop", "ftclip", backend, quality=quality, variant="size=paper")
    rows += cell(IVFPQ_RUN, "inshop", "ftclip", "ivfpq", quality=0.3, variant="size=paper,nlist=300")
    rows += cell("20260101-000000-aaaaaa", "inshop", "cgd", "spann", quality=0.4, variant="size=paper")
    rows += irgen_cells("20260101-000001-bbbbbb", "inshop")
    rows += irgen_cells("20260101-000001-bbbbbb", "inshop", "preset=paper,identifier=random,T=4", beams=(10,),
                        quality=0.3)
    rows += irgen_cells("20260101-000001-bbbbbb", "inshop", "preset=paper,identifier=rq,T=2", beams=(10,), quality=0.4)
    rows += irgen_cells("20260101-000001-bbbbbb", "inshop", "preset=paper,identifier=rq,T=4,fresh=0.5", beams=(30,),
                        quality=0.2)
    rows += cell("20260101-000002-cccccc", "digits", "smallcnn", "linear", quality=0.7)
    for nprobe, quality in ((1, 0.3), (8, 0.6)):
        rows += cell("20260101-000002-cccccc", "digits", "smallcnn", "ivfpq", f"nprobe={nprobe}", quality=quality,
                     timings={"feature": 0.4, "search": 0.001 * nprobe})
    run_ids = ["20260101-000000-aaaaaa", IVFPQ_RUN, "20260101-000001-bbbbbb", "20260101-000002-cccccc"]
    return write_results(root, rows, run_ids, built_with={IVFPQ_RUN: IVFPQ_BUILT})


def build(results: Path, reports: Path) -> dict[str, bytes]:
    """Every file written, by its path under ``reports`` (the site's as ``site/...``)."""
    assert report_command.main(["--results", str(results), "--reports", str(reports)]) == 0
    return {p.relative_to(reports).as_posix(): p.read_bytes() for p in sorted(reports.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The synthetic results and the reports built from them once (figures take a few seconds),
    with building any method made to fail."""
    import methods.registry

    root = tmp_path_factory.mktemp("report")
    results = synthetic_results(root / "results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(methods.registry, "make_method", lambda *a, **k: pytest.fail("report built a method"))
        files = build(results, root / "reports")
    return results, root / "reports", files


def block(markdown: str, heading: str) -> str:
    """The part of a table's Markdown under one dataset's heading."""
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.e2e
def test_every_table_and_figure_is_written(built):
    files = built[2]
    tables = ["table1_precision", "table2_recall", "table3_identifier", "table4_length", "table5_map100",
              "table6_fresh"]
    expected = {f"{t}.{ext}" for t in tables for ext in ("md", "csv")} | {"README.md"}
    for slug in ("inshop", "digits"):
        expected |= {f"fig3_pr_{slug}.png", f"fig4_mrr_{slug}.png", f"fig5_speed_{slug}.png",
                     f"fig6_precision_{slug}.png", f"tradeoff_{slug}.png"}
    assert expected <= set(files)
    assert all(files[name].startswith(b"\x89PNG") for name in files if name.endswith(".png"))
    readme = files["README.md"].decode()
    assert all(name in readme for name in expected - {"README.md"})
    assert PAPER_WORDS in readme and "Test CPU" in readme and "abc123" in readme


def named(df: pd.DataFrame, method: str, backend: str) -> pd.DataFrame:
    """The rows of ``method`` searched by ``backend``, found by the labels their descriptions give."""
    return df[(df.Search == names.backend(backend).label) & df.Model.str.startswith(names.model(method).label)]


@pytest.mark.e2e
def test_tables_hold_our_values_and_paper_columns_only_for_paper_datasets(built):
    results, reports, _ = built
    table1 = pd.read_csv(reports / "table1_precision.csv")
    raw = pd.read_csv(results / "results.csv")
    ours = raw[(raw.dataset == "inshop") & (raw.features == "ftclip") & (raw.backend == "spann")
               & (raw.metric == "precision") & (raw.k == 1)]["value"].item()
    inshop = table1[table1.dataset == "inshop"]
    spann = named(inshop, "ftclip", "spann")
    assert spann["P@1"].item() == pytest.approx(100 * ours, abs=1e-4)
    assert spann["paper P_rel@1"].item() == 90.2 and spann["paper row"].item() == "FT-CLIP"
    assert table1[table1.dataset == "digits"]["paper P_rel@1"].isna().all()
    # Rows only the paper has (CGD + IVF-PQ) carry the paper's numbers and leave ours empty.
    cgd_ivfpq = named(inshop, "cgd", "ivfpq")
    assert cgd_ivfpq["paper P_rel@10"].item() == 30.5 and cgd_ivfpq["P@1"].isna().all()
    # IRGen's paper row sits beside the paper preset's largest beam only (paper-only rows: no setting).
    irgen = named(inshop, "irgen", "beam-search")
    ours_irgen = irgen[irgen["P@1"].notna()]
    assert ours_irgen["Setting"].tolist() == ["beam=1", "beam=10", "beam=30"]
    assert ours_irgen["paper P_rel@10"].isna().tolist() == [True, True, False]
    assert ours_irgen["paper P_rel@10"].iloc[2] == 87.0 and len(irgen) == 3
    md = (reports / "table1_precision.md").read_text()
    assert "paper P_rel@1" in block(md, "In-shop Clothes") and "paper P" not in block(md, "sklearn digits")
    assert f"{100 * ours:.1f}" in block(md, "In-shop Clothes")


@pytest.mark.e2e
def test_both_precision_rules_sit_side_by_side(built):
    results, reports, _ = built
    table1 = pd.read_csv(reports / "table1_precision.csv")
    raw = pd.read_csv(results / "results.csv")
    ours = raw[(raw.dataset == "inshop") & (raw.features == "ftclip") & (raw.backend == "linear") & (raw.k == 10)]
    linear = named(table1[table1.dataset == "inshop"], "ftclip", "linear")
    for metric, column in (("precision", "P@10"), ("precision_official", "P_off@10"),
                           ("precision_released", "P_rel@10")):
        value = ours[ours.metric == metric]["value"].item()
        assert linear[column].item() == pytest.approx(100 * value, abs=1e-4)
    ours_both = table1.dropna(subset=["P@10", "P_off@10"])
    assert (ours_both["P_off@10"] >= ours_both["P@10"] - 1e-9).all()  # hits over r <= K, never over more
    assert (ours_both["P_rel@10"] <= ours_both["P_off@10"] + 1e-9).all()  # hits / K for one image found
    for metric in ("precision_official", "precision_released"):  # the definitions are the table's notes
        assert METRICS[metric].words in (reports / "table1_precision.md").read_text()
    for table in ("table3_identifier", "table6_fresh"):
        assert {"P@1", "P_off@1", "P_rel@1"} <= set(pd.read_csv(reports / f"{table}.csv").columns)


@pytest.mark.e2e
def test_labels_say_what_ran(built, tmp_path):
    """Presets and encoders named from IRGen's description, a small model never beside the paper's numbers, a
    model trained below its preset's step floor marked, and an ANN row's build parameters as built (from its
    manifest)."""
    rows = pd.read_csv(built[0] / "results.csv", dtype={"limit": str, "variant": str, "setting": str}).to_dict("records")
    rows += irgen_cells("20260101-000004-ffffff", "inshop", "preset=small,identifier=rq,T=4", beams=(30,),
                        quality=0.8, stats=SMALL_STEPS)
    results = write_results(tmp_path / "results", rows, [IVFPQ_RUN, "20260101-000004-ffffff"],
                            built_with={IVFPQ_RUN: IVFPQ_BUILT})
    table1 = next(t for t in tables_of(results) if t.name == "table1_precision")
    inshop = next(df for s, df, _ in table1.blocks if s.dataset == "inshop")
    preset, encoder = IRGEN.model_field("preset").words, IRGEN.model_field("encoder").words
    small = inshop[inshop.Model.str.contains(preset["small"])]
    assert small.Model.item() == model_label("irgen", {"preset": "small", "encoder": "effnet", "identifier": "rq",
                                                       "T": 4}, short=(45, 120))
    assert encoder["effnet"] in small.Model.item() and small.Model.item().endswith(steps_words((45, 120)))
    assert small["paper P_rel@10"].isna().all() and small["paper row"].isna().all()
    assert len(set(named(inshop, "irgen", "beam-search").Model)) == 2  # two presets, two labels
    rows += irgen_cells("20260101-000004-ffffff", "inshop", "preset=official,identifier=rq,T=4", beams=(30,),
                        quality=0.85)
    results = write_results(tmp_path / "both", rows, [IVFPQ_RUN, "20260101-000004-ffffff"],
                            built_with={IVFPQ_RUN: IVFPQ_BUILT})
    table1 = next(t for t in tables_of(results) if t.name == "table1_precision")
    inshop = next(df for s, df, _ in table1.blocks if s.dataset == "inshop")
    irgen = named(inshop, "irgen", "beam-search")
    official = irgen[irgen.Model.str.contains(preset["official"])]
    assert official["paper P_rel@10"].item() == 87.0  # the paper's row sits beside the recipe its code ran
    assert irgen[irgen.Model.str.contains(preset["paper"])]["paper P_rel@10"].isna().all()
    ivfpq = named(inshop, "ftclip", "ivfpq")
    ivfpq = ivfpq[ivfpq["P@1"].notna()]
    assert ivfpq.Build.item() == "M=4, nbits=8, nlist=300, refine_factor=0"
    assert ivfpq.Model.item() == model_label("ftclip", {"preset": "paper", "nlist": 300})
    assert "nlist=300" in ivfpq.Model.item() and ivfpq["paper P_rel@1"].item() == 63.7
    assert set(named(inshop, "ftclip", "linear").Build) == {"exact"}
    md = table1.markdown()
    assert NOT_PAPER_NOTE in md and STEPS_NOTE in md


def tables_of(results: Path):
    """The tables bench.report writes from ``results`` (no figures drawn)."""
    rows = read_results(results)
    return build_tables(sections_from(rows, ResultStore(results).read_manifests(set(rows["run_id"]))), load_paper())


@pytest.mark.e2e
def test_ablation_tables(built):
    reports = built[1]
    identifiers = IRGEN.model_field("identifier").words
    t3 = pd.read_csv(reports / "table3_identifier.csv")
    assert {identifiers["random"], identifiers["rq"]} <= set(t3["Identifier"]) and "paper P_rel@10" in t3
    assert t3[(t3.Identifier == identifiers["random"]) & t3["P@1"].notna()]["paper P_rel@10"].item() == 75.4
    t4 = pd.read_csv(reports / "table4_length.csv")
    assert {2, 4} <= set(pd.to_numeric(t4["T"], errors="coerce").dropna().astype(int))
    t6 = pd.read_csv(reports / "table6_fresh.csv")
    fresh = t6[(t6["Held out"] == "50%") & t6["P@1"].notna()]
    assert fresh["paper P_rel@10"].item() == 26.9
    assert set(t6["Held out"]) == {"0%", "50%"}  # the same IRGen without held-out data, for comparison
    t5 = pd.read_csv(reports / "table5_map100.csv")
    assert t5["MAP@100"].notna().any() and t5["MAP_found@100"].notna().any() and t5["MAP_rel@100"].notna().any()
    assert "paper MAP@100" not in t5  # no million-scale set here


@pytest.mark.e2e
def test_same_results_give_the_same_bytes(built, tmp_path):
    results, reports, first = built
    again = build(results, reports)
    elsewhere = build(results, tmp_path / "elsewhere")
    assert first == again == elsewhere


@pytest.mark.e2e
def test_missing_inputs_are_noted_and_stale_outputs_removed(tmp_path):
    rows = cell("20260101-000002-cccccc", "digits", "smallcnn", "linear")
    results = write_results(tmp_path / "results", rows, [])  # and no manifest
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "fig3_pr_gone.png").write_bytes(b"old")
    (reports / "pareto-digits.png").write_bytes(b"from a sweep no longer in results/")
    files = build(results, reports)
    assert "fig3_pr_gone.png" not in files and "pareto-digits.png" not in files
    assert "table3_identifier.md" not in files and "table6_fresh.md" not in files
    readme = files["README.md"].decode()
    table3 = next(t for t in tables_of(results) if t.name == "table3_identifier")
    assert f"{table3.caption}: {table3.skipped}" in readme  # named with the reason it was not made
    assert "20260101-000002-cccccc" in readme.split("## Provenance")[1]  # the run without a manifest is named
    assert "pareto-digits.png" not in readme


@pytest.mark.e2e
def test_empty_results_give_a_readme(tmp_path):
    files = build(tmp_path / "nothing", tmp_path / "reports")
    assert [name for name in files if not name.startswith("site/")] == ["README.md"]
    assert b"](table" not in files["README.md"] and b".png" not in files["README.md"]  # nothing to link to


def test_large_sets_get_table5_paper_columns(tmp_path):
    rows = cell("20260101-000003-dddddd", "imagenet", "ftclip", "spann", ks=(1, 10, 100))
    rows += irgen_cells("20260101-000003-dddddd", "imagenet", beams=(100,), ks=(1, 10, 100))
    rows += cell("20260101-000003-dddddd", "digits", "smallcnn", "linear")
    paper = load_paper()
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"limit": str}).assign(device="-", threads="-", timing="-")
    sections = sections_from(model_of_old_rows(frame))
    table5 = map_table(paper["tables"]["table5"], sections)
    assert [s.dataset for s, _, _ in table5.blocks] == ["imagenet"]
    rows5 = table5.blocks[0][1]
    irgen = named(rows5, "irgen", "beam-search")
    assert irgen[irgen["MAP@100"].notna()]["paper MAP_rel@100"].item() == 76.0
    assert "CLIP + SPANN" in set(rows5["paper row"])  # a paper row we did not run, on its own line
    assert [s.dataset for s in fig6_sections(sections)] == ["imagenet"]


@pytest.mark.e2e
def test_report_never_loads_a_model(tmp_path):
    """A fresh interpreter builds reports without importing torch, any method's code or the datasets: of
    the methods it reads only their descriptions (methods.registry, for labels and colours; IRGen's identifier
    kinds, methods.irgen.identifiers, for theirs; the in-process builds above also run with
    methods.registry.make_method made to fail)."""
    results = write_results(tmp_path / "results", cell("20260101-000002-cccccc", "digits", "smallcnn", "linear"),
                            ["20260101-000002-cccccc"])
    script = ("import sys; from pathlib import Path; import bench.report as r; "
              "r.build(Path(sys.argv[1]), Path(sys.argv[2])); "
              "loaded = [m for m in sys.modules if m in ('torch', 'methods.features', 'methods.backends', 'datasets') "
              "or m.startswith('methods.irgen.') and m != 'methods.irgen.identifiers']; "
              "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", script, str(results), str(tmp_path / "reports")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports" / "table1_precision.md").exists()
