"""benchmarks/record_backends.py: a sweep's rows become a record's generated part (bench.report's
table, the order at recall 0.9 and 0.99), its rows and plane beside it; the author's text stays."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from bench.results import sweeps_table
from tests.bench.test_report_sweeps import rows

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "record_backends.py"


def script():
    spec = importlib.util.spec_from_file_location("record_backends", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_record_gets_the_table_and_the_order_at_both_recalls_and_keeps_its_own_text(tmp_path):
    record_backends = script()
    sweeps_table(tmp_path / "results").merge(rows(), on=["backend", "build_params", "params"])
    record = tmp_path / "recorded" / "backends_benchmark-2026-01-02-cpu.md"
    record.parent.mkdir()
    record.write_text(f"# mine\n{record_backends.BEGIN}\nstale\n{record_backends.END}\nmy notes\n")
    argv = ["--results", str(tmp_path / "results"), "--set", "synthetic-5000x32", "--record", str(record)]
    assert record_backends.main(argv) == 0
    text = record.read_text()
    assert text.startswith("# mine\n") and text.endswith("my notes\n") and "stale" not in text
    at_09 = next(line for line in text.splitlines() if line.startswith("- **At recall 0.9:**"))
    assert at_09.index("hnsw (8,000") < at_09.index("diskann (7,000") < at_09.index("diskann-disk (400")
    assert "ivfpq (0.9)" not in at_09  # ivfpq reaches 0.9 exactly: it is ranked, not listed as falling short
    at_099 = next(line for line in text.splitlines() if line.startswith("- **At recall 0.99:**"))
    assert at_099.startswith("- **At recall 0.99:** hnsw (3,000") and "diskann-disk (0.97)" in at_099
    assert "| hnsw |" in text and (tmp_path / "recorded" / "pareto-synthetic-5000x32-2026-01-02.png").is_file()
    assert len((tmp_path / "recorded" / "sweeps-synthetic-5000x32-2026-01-02.csv").read_text().splitlines()) == 8
    assert record_backends.main(argv) == 0 and record.read_text() == text  # again: the same record


def test_a_record_without_the_markers_is_refused_and_left_alone(tmp_path, capsys):
    record = tmp_path / "backends_benchmark-2026-01-02-cpu.md"
    record.write_text("# mine\n")
    assert script().main(["--results", str(tmp_path), "--set", "x", "--record", str(record)]) == 2
    assert "GENERATED" in capsys.readouterr().err and record.read_text() == "# mine\n"
