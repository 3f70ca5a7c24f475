"""The retrieval examples as one PNG per section, ``reports/examples-<slug>.png`` (the paper's
Figures 7-9): for each of the first few queries of the section's seeded order, the query in its
own column and, one row per headline cell labelled on the left, its top K, each framed by
whether it shares the query's class: a solid green frame with a check mark, or a dashed red one
with a cross, so that the marks read in greyscale too. Drawn by matplotlib (Agg) on one set of
axes measured in tiles; deterministic, written atomically."""
from __future__ import annotations

import logging
import re
import json
import textwrap
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

from .example_images import ItemImages, Unreadable, fitted  # noqa: E402
from . import names  # noqa: E402
from .examples import Examples, Row  # noqa: E402
from .png import STYLE, save  # noqa: E402

log = logging.getLogger(__name__)

INCH = 0.62  # one tile
LABEL_W = 3.6  # the label column, in tiles
GAP = 0.45  # between the query column and the answers, and between queries
MOST_QUERIES, MOST_TILE_ROWS = 8, 32  # the PNG shows at most 8 queries, fewer where there are many rows
RIGHT = {"color": "#1a9850", "dash": "solid", "glyph": "\u2713", "words": "solid green frame: same class as the query"}
WRONG = {"color": "#d73027", "dash": (0, (3, 2)), "glyph": "\u2717", "words": "dashed red frame: another class"}
TILE_PX = 96


def wrapped(label: str, width: int = 34) -> str:
    """A row's label on a few lines, a number kept with its unit (``112 px``)."""
    return "\n".join(textwrap.wrap(re.sub(r"(\d) (?=[a-z])", "\\1\u00a0", label), width))


def png_queries(rows: int) -> int:
    """How many queries the PNG shows: 8, fewer where many rows would make it too tall (at least 2)."""
    return max(2, min(MOST_QUERIES, MOST_TILE_ROWS // max(rows, 1)))


def image(ax, picture, x: float, y: float, size: float = 0.78) -> None:
    """``picture`` inside the tile at (x, y) (its top-left corner), centred, its aspect kept."""
    tile = np.asarray(fitted(picture, TILE_PX))
    h, w = tile.shape[:2]
    sw, sh = size * w / max(w, h), size * h / max(w, h)
    left, top = x + (1 - sw) / 2, y + (1 - sh) / 2
    ax.imshow(tile, extent=(left, left + sw, top + sh, top), interpolation="nearest", zorder=1)


def mark(ax, x: float, y: float, look: dict, scale: float = 1.0) -> None:
    """The tile's frame and its corner badge: a glyph in a filled circle."""
    inset, side = 0.5 - 0.44 * scale, 0.88 * scale
    ax.add_patch(Rectangle((x + inset, y + inset), side, side, fill=False, edgecolor=look["color"], linewidth=2.4,
                           linestyle=look["dash"], zorder=2))
    cx, cy = x + inset + side - 0.1, y + inset + 0.1
    ax.add_patch(Circle((cx, cy), 0.13, facecolor=look["color"], edgecolor="white", linewidth=0.8, zorder=3))
    ax.text(cx, cy + 0.005, look["glyph"], color="white", fontsize=8, fontweight="bold", ha="center", va="center",
            zorder=4)


def empty(ax, x: float, y: float) -> None:
    ax.add_patch(Rectangle((x + 0.11, y + 0.11), 0.78, 0.78, fill=False, edgecolor="#bbbbbb", linestyle=":",
                           linewidth=1.0))
    ax.text(x + 0.5, y + 0.5, "none", color="#999999", fontsize=7, ha="center", va="center")


def legend(ax, x: float, y: float) -> None:
    """The two marks, each with its meaning."""
    for look in (RIGHT, WRONG):
        mark(ax, x, y, look, scale=0.7)
        ax.text(x + 1.0, y + 0.5, f"{look['glyph']} {look['words']}", fontsize=8, va="center")
        x += 5.2


def png_rows(rows: list[Row]) -> list[Row]:
    """A row per model, as the paper's Figures 7-9 have one per method: its exact scan where it ran,
    else its first backend in paper order (the site's examples page shows every backend)."""
    kept: dict[tuple, Row] = {}
    for row in rows:
        key = row.cell.method, json.dumps(row.cell.model, sort_keys=True)
        if key not in kept or (row.cell.backend in names.EXACT_BACKENDS
                               and kept[key].cell.backend not in names.EXACT_BACKENDS):
            kept[key] = row
    return [row for row in rows if row in kept.values()]


def draw(examples: Examples, images: ItemImages, path: Path) -> Path:
    """Write ``examples``' PNG to ``path`` (``png_rows`` of its rows); raises ``Unreadable`` where an
    image cannot be read."""
    every = len(examples.rows)
    examples = replace(examples, rows=png_rows(examples.rows))
    rows, k = examples.rows, examples.rows[0].ids.shape[1]
    queries = examples.sample(png_queries(len(rows)))
    n_total = len(examples.items.query_labels)
    width = LABEL_W + 1 + GAP + k
    top = 2.0  # the legend and the header above the first query
    height = top + len(queries) * (len(rows) + GAP) - GAP
    notes = caption(examples, len(queries), n_total, k, every)
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width * INCH, (height + 0.3 * len(notes) + 0.9) * INCH))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height + 0.3 * len(notes) + 0.4, -0.9)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.text(0, -0.5, f"Retrieval examples: {examples.section.title}", fontsize=11, fontweight="bold",
                va="center")
        legend(ax, LABEL_W + 1 + GAP, 0.0)
        answers_x = LABEL_W + 1 + GAP
        ax.text(LABEL_W + 0.5, top - 0.2, "query", fontsize=8, ha="center", va="bottom", fontweight="bold")
        for j in range(k):
            ax.text(answers_x + j + 0.5, top - 0.2, str(j + 1), fontsize=8, ha="center", va="bottom")
        for b, q in enumerate(queries):
            y0 = top + b * (len(rows) + GAP)
            if b:
                ax.plot([0, width], [y0 - GAP / 2] * 2, color="#cccccc", linewidth=0.8)
            middle = y0 + (len(rows) - 1) / 2
            image(ax, images.query(q), LABEL_W, middle)
            ax.add_patch(Rectangle((LABEL_W + 0.06, middle + 0.06), 0.88, 0.88, fill=False, edgecolor="#222222",
                                   linewidth=1.2))
            ax.text(LABEL_W + 0.5, middle + 0.96, f"#{q}, class {examples.items.query_labels[q]}", fontsize=6.5,
                    ha="center", va="top", color="#444444")
            for r, row in enumerate(rows):
                y = y0 + r
                ax.text(LABEL_W - 0.15, y + 0.5, wrapped(row.label), fontsize=7, ha="right", va="center",
                        linespacing=1.1)
                for j, (item, right) in enumerate(zip(row.ids[q], row.right[q])):
                    x = answers_x + j
                    if item < 0:
                        empty(ax, x, y)
                        continue
                    image(ax, images.database(item), x, y)
                    mark(ax, x, y, RIGHT if right else WRONG)
        ax.text(0, height + 0.4, "\n".join(notes), fontsize=7.5, va="top", color="#333333", linespacing=1.4)
        save(fig, path, facecolor="white")
    return path


def caption(examples: Examples, shown: int, total: int, k: int, every: int) -> list[str]:
    """The lines under the figure: what was sampled, what a row is, which seed, what is left out."""
    lines = [f"The first {shown} of the {total} queries in a seeded order (seed 0; the site's examples page pages "
             f"through more).",
             f"Each row: the top {k} answers of a headline cell, named as the figures name it, from its stored "
             f"ranking (no model was run); a row per model, its exact scan where it ran"
             + (f" ({len(examples.rows)} of the {every} headline cells; the site's examples page shows them all)."
                if every > len(examples.rows) else ".")]
    lines += [examples.seeds_note] if examples.seeds_note else []
    lines += [f"Not shown: {why}." for why in examples.left_out]
    return [textwrap.fill(line, 150) for line in lines]


def write_example_figures(all_examples: list[Examples], reports: Path) -> list[Path]:
    """``examples-<slug>.png`` for each section with rankings whose images can be read; the others
    are logged with the reason."""
    written = []
    for examples in all_examples:
        if not examples.rows:
            log.info("retrieval examples of %s: no headline cell has a stored ranking", examples.section.title)
            continue
        try:
            written.append(draw(examples, ItemImages(examples.items),
                                Path(reports) / f"examples-{examples.section.slug}.png"))
        except Unreadable as e:
            log.warning("retrieval examples of %s not drawn: the dataset's files are not present here (%s)",
                        examples.section.title, e)
    return written
