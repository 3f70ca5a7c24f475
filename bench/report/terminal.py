"""Results rows -> the table a command prints in the terminal, one line per cell."""
from __future__ import annotations

import pandas as pd

from ..definitions import label, short

LABEL_COLUMNS = ["dataset", "method", "variant", "features", "backend", "setting", "seed"]


def wide(df: pd.DataFrame, ks: list[int], group: list[str]) -> pd.DataFrame:
    """One line per cell: the three precision rules, R@k and MRR@k for each k, MAP@R and R-Prec (with
    R>depth where any query's R exceeds the ranking depth; ``bench.definitions``) and queries per second."""
    df = df.copy()
    df["k"] = df["k"].astype(int)
    wanted = []
    for metric in ("precision", "precision_official", "precision_released", "recall", "mrr"):
        wanted += [(metric, k, label(metric, k)) for k in ks]
    lines = []
    for keys, cell in df.groupby(group, sort=False, dropna=False):
        line = dict(zip(group, keys))
        values = {(m, k): v for m, k, v in zip(cell["metric"], cell["k"], cell["value"])}
        for metric, k, name in wanted:
            line[name] = values.get((metric, k))
        for metric in ("map_at_r", "r_precision", "r_beyond_depth"):
            line[short(metric)] = next((v for (m, _), v in values.items() if m == metric), None)
        line["QPS batched"] = values.get(("qps_batch", 0))
        line["QPS single"] = values.get(("qps_single", 0))
        lines.append(line)
    out = pd.DataFrame(lines)
    if not (out[short("r_beyond_depth")] > 0).any():
        out = out.drop(columns=short("r_beyond_depth"))
    out = out.drop(columns=[c for c in ("QPS batched", "QPS single") if out[c].isna().all()])
    keep = [c for c in group if c in LABEL_COLUMNS and (c in ("method", "setting") or out[c].nunique() > 1)]
    return out[keep + [c for c in out.columns if c not in group]]


def metric_table(df: pd.DataFrame, ks: list[int], group: list[str]) -> str:
    if df.empty:
        return "(no results)"
    table = wide(df, ks, group)
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
