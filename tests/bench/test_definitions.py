"""Each metric is defined once (bench/definitions.py): the README quotes every defining sentence,
and the report's tables and site say them from the module, not from copies."""
from pathlib import Path

from bench.definitions import IDENTIFIERS, METRICS, RULES_PART, label, short

README = Path(__file__).resolve().parents[2] / "README.md"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_quotes_every_definition_as_the_module_says_it():
    readme = flat(README.read_text())
    for metric in (m for m in (*METRICS.values(), *IDENTIFIERS.values()) if m.words):
        assert flat(f"- `{metric.name}` ({metric.short}): {metric.words}") in readme, metric.name
    assert flat(RULES_PART) in readme


def test_short_names_and_labels():
    assert [short(m) for m in ("precision", "precision_official", "precision_released")] == ["P", "P_off", "P_rel"]
    assert label("map_released", 100) == "MAP_rel@100" and short("a_metric_no_one_defined") == "a_metric_no_one_defined"
