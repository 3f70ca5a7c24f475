"""What each metric is, said once: its name in results/ (``bench/metrics.py`` computes it),
its short name in tables and figures (P, P_off, P_rel, ...) and the sentence that defines it.
The tables' notes, ``reports/README.md``, the site and the terminal table quote these; the
project README quotes the sentences too (``tests/bench/test_definitions.py`` checks it does)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric: ``name`` (the results' ``metric`` column), ``short`` (tables, figures) and
    ``words``, the sentence that defines it (empty: its short name says enough); ``percent``: the
    tables print it in percent (a share), else as it is (a count)."""

    name: str
    short: str
    words: str = ""
    percent: bool = True


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
    Metric("bound_precision", "bound P",
           "bound P@K and bound R@K are the perfect-decoder bound: each query answered by the identifier the "
           "tokenizer itself gives the query image, with no encoder-decoder, as a decoder writing exactly that "
           "identifier answers under the prefix tree's constraint (its images, then those sharing its longest prefix "
           "the tree holds, then shorter ones). Beside the model's own P@K and R@K it separates the identifiers' "
           "quality from the model's."),
    Metric("bound_recall", "bound R"),
)}
# what a generative method's identifiers are (methods/irgen/diagnostics.py writes the rows)
IDENTIFIERS = {m.name: m for m in (
    Metric("id_images_mean", "Images/id",
           "Images/id is the mean number of database images per identifier (the prefix tree's leaves), Images/id "
           "max the largest.", percent=False),
    Metric("id_images_max", "Images/id max", percent=False),
    Metric("id_share_over_k", "Over K",
           "Over K@K is the share of the database in identifiers holding more than K images: a beam that reaches "
           "one fills the top K with its images alone, in database order."),
    Metric("id_fanout_mean", "Fan-out",
           "Fan-out@l is the mean number of children of a prefix-tree node at level l (1: the first token's), "
           "Fan-out max@l the most.", percent=False),
    Metric("id_fanout_max", "Fan-out max", percent=False),
    Metric("id_beams_invalid", "Invalid beams",
           "Invalid beams and Repeated beams are the shares of the search's beams, at the row's beam size, that end "
           "on an identifier no database image has or repeat an earlier beam of their query: 0 under the search "
           "constrained to the prefix tree."),
    Metric("id_beams_repeated", "Repeated beams"),
    Metric("id_own_found", "Own id found",
           "Own id found is the share of queries whose own identifier (the tokenizer's, of the query image) some "
           "database image has; where it is small, the bound answers from the identifiers' prefixes."),
)}
PRECISION_RULES = ("precision", "precision_official", "precision_released")  # Tables 1, 3, 4, 6 give all three
MAP_RULES = ("map", "map_found", "map_released")  # Table 5's three conventions of MAP@100
# where the rules part, in the paper's sets (a property of the data, not of a rule)
RULES_PART = ("The precision rules agree where every query has K or more relevant images (CUB200, Cars196: 30-40 "
              "per class, K <= 8) and part where it has fewer: on In-shop (about 3 per item) P@10 cannot pass "
              "about 32%.")


def find(metric: str) -> Metric:
    """A metric's definition (one named by its results name only where none is written)."""
    return METRICS.get(metric) or IDENTIFIERS.get(metric) or Metric(metric, metric)


def short(metric: str) -> str:
    """A metric's short name (its results name where it has none)."""
    return find(metric).short


def label(metric: str, k: int) -> str:
    """``P_off@10``; a metric of no cut-off (k = 0) by its short name alone."""
    return f"{short(metric)}@{k}" if k else short(metric)


def words(metrics) -> list[str]:
    """The defining sentences of ``metrics``, in order (those that have one)."""
    return [find(m).words for m in metrics if find(m).words]


# How sure a number is (bench/uncertainty.py computes it; the tables, figures and site say it in these words).
INTERVAL_KINDS = {  # a number's interval, shortly (hover, intervals.csv): {n} queries or seeds
    "bootstrap": "bootstrap over {n:,} queries",
    "t": "mean of {n} seeds ± t 95%",
    "none": "none (one seed, no ranking stored)",
}
PLUS_MINUS = ("A value written a ± b is the value and half the width of its 95% interval, in the table's units "
              "(the CSV gives the interval's ends, <column>_low and <column>_high); Seeds is how many training seeds "
              "the row holds.")
INTERVAL_WORDS = {  # what each kind of interval is, for a table's notes
    "bootstrap": "A row of one seed carries the 95% percentile bootstrap interval over its {n:,} queries "
                 "({resamples:,} seeded resamples of the queries, the same resamples for every row).",
    "t": "A row of several seeds gives the mean of the seeds' values and its Student-t 95% interval, "
         "t(0.975, S - 1) sd / sqrt(S) over its S seeds (each trained and evaluated on the same queries), as "
         "powerful-benchmarker reports.",
    "none": "A row of one seed whose ranking was not stored (a run from before rankings were kept) has no interval.",
}
ERROR_BARS = ("Error bars: each value's 95% interval (a model of one seed: a bootstrap over its queries; of several: "
              "the mean of its seeds with a Student-t 95% interval).")
NOT_SIGNIFICANT = "†"
PAIRED_WORDS = (f"{NOT_SIGNIFICANT} marks, in a column, the best row of a generative method (IRGen's) and the best "
                "other row when their difference is not significant at 5%: a paired test over the same queries, a "
                "sign-flip permutation test of the per-query differences ({resamples:,} seeded flips; a row of "
                "several seeds compared by its per-query mean over them, so the test speaks to these queries, not to "
                "the spread between trainings its t-interval shows). Unmarked, it is significant; the CSV gives the "
                "test's p-value on both rows (<column>_p).")


def units(metrics) -> str:
    """Which of ``metrics`` a table prints in percent, and which as counts."""
    percent = [find(m).short for m in metrics if find(m).percent]
    counts = [find(m).short for m in metrics if not find(m).percent]
    return f"In percent: {', '.join(percent)}" + (f"; counts: {', '.join(counts)}." if counts else ".")


def interval_words(kind: str, n: int) -> str:
    """``bootstrap over 2,500 queries``, ``mean of 3 seeds ± t 95%``: what a number's interval is."""
    return INTERVAL_KINDS[kind].format(n=n)


def interval_notes(kinds: dict[str, int], resamples: int) -> list[str]:
    """A table's notes on its intervals: ``PLUS_MINUS``, then the words of each kind its rows carry
    (``kinds``: kind -> its queries or seeds, the largest count)."""
    return [PLUS_MINUS] + [INTERVAL_WORDS[k].format(n=n, resamples=resamples) for k, n in sorted(kinds.items())]


def paired_words(resamples: int) -> str:
    return PAIRED_WORDS.format(resamples=resamples)
