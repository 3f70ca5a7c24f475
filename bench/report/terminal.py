"""Results rows -> the table a command prints in the terminal, one line per cell."""
from __future__ import annotations

import pandas as pd

from .names import SHORT
LABEL_COLUMNS = ["dataset", "method", "variant", "features", "backend", "setting", "seed"]


def wide(df: pd.DataFrame, ks: list[int], group: list[str]) -> pd.DataFrame:
    """One line per cell: P@k (hits / k), P_off@k (the official IRGen rule), P_rel@k (as released), R@k, MRR@k for each k,
    MAP@R, R-Prec (with ``R>depth``, the share of queries whose R exceeds the ranking depth, where
    any does: their MAP@R and R-Prec are cut short) and queries per second."""
    df = df.copy()
    df["k"] = df["k"].astype(int)
    wanted = []
    for metric in ("precision", "precision_official", "precision_released", "recall", "mrr"):
        wanted += [(metric, k, f"{SHORT[metric]}@{k}") for k in ks]
    lines = []
    for keys, cell in df.groupby(group, sort=False, dropna=False):
        line = dict(zip(group, keys))
        values = {(m, k): v for m, k, v in zip(cell["metric"], cell["k"], cell["value"])}
        for metric, k, name in wanted:
            line[name] = values.get((metric, k))
        line["MAP@R"] = next((v for (m, _), v in values.items() if m == "map_at_r"), None)
        line["R-Prec"] = next((v for (m, _), v in values.items() if m == "r_precision"), None)
        line["R>depth"] = next((v for (m, _), v in values.items() if m == "r_beyond_depth"), None)
        line["QPS batched"] = values.get(("qps_batch", 0))
        line["QPS single"] = values.get(("qps_single", 0))
        lines.append(line)
    out = pd.DataFrame(lines)
    if not (out["R>depth"] > 0).any():
        out = out.drop(columns="R>depth")
    out = out.drop(columns=[c for c in ("QPS batched", "QPS single") if out[c].isna().all()])
    keep = [c for c in group if c in LABEL_COLUMNS and (c in ("method", "setting") or out[c].nunique() > 1)]
    return out[keep + [c for c in out.columns if c not in group]]


def metric_table(df: pd.DataFrame, ks: list[int], group: list[str]) -> str:
    if df.empty:
        return "(no results)"
    table = wide(df, ks, group)
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
