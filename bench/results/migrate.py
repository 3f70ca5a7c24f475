"""Rows written before the ``model`` column: their model's fields read from the old ``variant``
string, here and nowhere else, as they are loaded (the file is left as it is; a cell run
again writes the column)."""
from __future__ import annotations

import json

import pandas as pd

from methods.base import parse_setting


def typed(text: str):
    """A variant's value as the method writes it now: ``4`` -> 4, ``0.5`` -> 0.5, ``true`` -> True."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def fields_from_variant(method: str, variant: str, features: str, input_px: float | None) -> dict:
    """An old row's model fields: its variant's pairs typed (a feature model's ``size`` named
    ``preset``, as it is now), the encoder its ``features`` named (``<method>-<encoder>``) and the
    input side its cell recorded as a stats row."""
    fields = {k: typed(v) for k, v in parse_setting(variant).items()}
    if "size" in fields:
        fields["preset"] = fields.pop("size")
    if features.startswith(f"{method}-"):
        fields["encoder"] = features[len(method) + 1:]
    if input_px is not None and not pd.isna(input_px):
        fields["input_px"] = int(input_px)
    return fields


def model_of_old_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the ``model`` column filled where it is missing."""
    if "model" not in rows:
        rows = rows.assign(model=pd.Series(index=rows.index, dtype=object))
    old = rows["model"].isna()
    if not old.any():
        return rows
    px = rows[rows["metric"] == "input_px"].groupby("cell_id")["value"].first()
    firsts = rows[old].drop_duplicates("cell_id")
    models = {r.cell_id: json.dumps(fields_from_variant(str(r.method), str(r.variant), str(r.features),
                                                        px.get(r.cell_id)), sort_keys=True)
              for r in firsts.itertuples(index=False)}
    rows = rows.copy()
    rows.loc[old, "model"] = rows.loc[old, "cell_id"].map(models)
    return rows
