"""What each metric is, said once: its name in results/ (``bench/metrics.py`` computes it),
its short name in tables and figures (P, P_off, P_rel, ...) and the sentence that defines it.
The tables' notes, ``reports/README.md``, the site and the terminal table quote these; the
project README quotes the sentences too (``tests/bench/test_definitions.py`` checks it does)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric: ``name`` (the results' ``metric`` column), ``short`` (tables, figures) and
    ``words``, the sentence that defines it (empty: its short name says enough)."""

    name: str
    short: str
    words: str = ""


METRICS = {m.name: m for m in (
    Metric("precision", "P", "P@K is the hits in the top K over K."),
    Metric("precision_official", "P_off",
           "P_off@K is the official IRGen evaluation's rule as its code reads (utils/evaluate.py, compute_map with "
           "kappas): a query whose relevant images were all returned, the last at rank r < K, has its hits divided "
           "by r instead of K."),
    Metric("precision_released", "P_rel",
           "P_rel@K is that rule as the released code computed it on the numpy of its environment (<= 1.24): a "
           "query with exactly one relevant image found scores hits / K even with that image at rank 1; the "
           "paper's precision columns sit beside it."),
    Metric("recall", "R", "R@K is 1 if any of the top K shares the query's class (the paper's Recall@K)."),
    Metric("mrr", "MRR", "MRR@K is the mean reciprocal rank of the first relevant result within K."),
    Metric("map", "MAP",
           "MAP@K, which the paper does not define, divides a query's summed precision at its hits by min(R, K) "
           "(R: its relevant images)."),
    Metric("map_found", "MAP_found", "MAP_found@K divides it by the relevant images found in the top K."),
    Metric("map_released", "MAP_rel",
           "MAP_rel@K is the released code's (utils/evaluate.py compute_ap): a trapezoid AP over the hits in the "
           "top K, divided by min(R, 10), so above 100 where a query finds more than 10 relevant images; the "
           "paper's MAP@100 sits beside it."),
    Metric("map_at_r", "MAP@R",
           "MAP@R and R-Precision (Musgrave et al.) see the ranking cut at --depth (100); R>depth is the share of "
           "queries with more relevant images than that, for which they are cut short."),
    Metric("r_precision", "R-Prec"),
    Metric("r_beyond_depth", "R>depth"),
)}
PRECISION_RULES = ("precision", "precision_official", "precision_released")  # Tables 1, 3, 4, 6 give all three
MAP_RULES = ("map", "map_found", "map_released")  # Table 5's three conventions of MAP@100
# where the rules part, in the paper's sets (a property of the data, not of a rule)
RULES_PART = ("The precision rules agree where every query has K or more relevant images (CUB200, Cars196: 30-40 "
              "per class, K <= 8) and part where it has fewer: on In-shop (about 3 per item) P@10 cannot pass "
              "about 32%.")


def short(metric: str) -> str:
    """A metric's short name (its results name where it has none)."""
    return METRICS[metric].short if metric in METRICS else metric


def label(metric: str, k: int) -> str:
    """``P_off@10``."""
    return f"{short(metric)}@{k}"


def words(metrics) -> list[str]:
    """The defining sentences of ``metrics``, in order (those that have one)."""
    return [METRICS[m].words for m in metrics if m in METRICS and METRICS[m].words]
