"""The IRGen paper's own numbers (``configs/paper_numbers.yaml``), to sit beside ours in
columns of their own, never mixed into ours."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..definitions import METRICS
from .cells import fields_of
from .names import MISSING

PAPER_NUMBERS = Path(__file__).resolve().parents[2] / "configs" / "paper_numbers.yaml"


def load_paper(path: Path = PAPER_NUMBERS) -> dict:
    """configs/paper_numbers.yaml, each row's value lists turned into {dataset: {(metric, k): value}}."""
    doc = yaml.safe_load(path.read_text())
    for table in doc["tables"].values():
        for row in table["rows"]:
            row["values"] = {}
            for metric in METRICS:
                for dataset, values in row.get(metric, {}).items():
                    ks = table["ks"][dataset]
                    row["values"].setdefault(dataset, {}).update(
                        {(metric, k): v for k, v in zip(ks, values) if v is not None})
    return doc


def matches(key: dict, fields: dict) -> bool:
    return all(fields.get(name) == value for name, value in key.items())


def key_fields(key: dict) -> dict:
    """A paper row's key filled out like a cell's fields, to sort and label rows only the paper has."""
    model = {k: v for k, v in key.items() if k not in ("method", "backend")}
    return {**fields_of(key["method"], key["backend"], model), "model": model, "setting": MISSING, "paper_only": True}
