"""The site's retrieval-examples page, ``examples.html`` (the paper's Figures 7-9, browsable): per
section, the first ``SITE_QUERIES`` queries of its seeded order, paged one query at a time (buttons
and the arrow keys), each headline row's top K framed right or wrong as in the PNG, a checkbox per
row; and the "where they disagree" views: the queries where IRGen's top 1 is right and the best
baseline's wrong, and the reverse (their counts over every query; the first ``DISAGREE_QUERIES``
of each in the same seeded order, paged the same way).

The page holds its data as JSON and ``examples.js`` draws it; the thumbnails are small JPEGs of
the dataset's own images under ``thumbs/`` (example_images), each written once. A section whose
dataset's files cannot be read here gets a one-line note instead."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm import tqdm

from methods.runtime.files import atomic_write

from .example_images import THUMBS, ItemImages, Unreadable, thumbnail
from .examples import Examples
from .site import ASSETS, Page, bullets, esc, inline, tag

log = logging.getLogger(__name__)

PAGE = "examples.html"
SITE_QUERIES = 50
DISAGREE_QUERIES = 25  # of each direction
SCRIPT, STYLESHEET = "examples.js", "examples.css"

NO_DISAGREEMENT = "No disagreement view: it needs a generative (IRGen) headline row and a baseline one."
ABOUT = ("The paper's Figures 7-9 from the stored rankings (no model is run): for a seeded sample of each "
         "dataset's queries, the query and the top answers of each headline row of the tables and figures "
         "(each method with each backend it ran, IRGen at its headline beam). Page with the buttons or the "
         "left and right arrow keys; the checkboxes show or hide a row. **Where they disagree**: the queries "
         "where IRGen's top 1 is right and the best baseline's (the other headline row with the highest P@1) "
         "wrong, and the reverse, counted over every query. A row run with several training seeds shows one "
         "seed's ranking (seed 0's), as its label says.")


class SectionThumbs:
    """A section's thumbnails, as the list its JSON indexes; each made once into ``files`` (site path
    -> JPEG bytes), which every section shares."""

    def __init__(self, images: ItemImages, files: dict[str, bytes]):
        self.images, self.files = images, files
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def of(self, origin: str, opener) -> int:
        """The index of ``origin``'s thumbnail in this section's list, made on first use."""
        name = self.images.thumb_name(origin)
        if name not in self.files:
            self.files[name] = thumbnail(opener())
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]


def query_data(examples: Examples, q: int, thumbs: SectionThumbs) -> dict:
    """One query: its class, its thumbnail, and per row its answers as [thumbnail, right] (-1: none)."""
    items, images = examples.items, thumbs.images
    answers = [[[thumbs.of(items.database_origins[j], lambda j=j: images.database(j)), int(bool(r))] if j >= 0
                else [-1, 0] for j, r in zip(row.ids[q], row.right[q])] for row in examples.rows]
    return {"class": int(items.query_labels[q]),
            "thumb": thumbs.of(items.query_origins[q], lambda: images.query(q)), "answers": answers}


def views(examples: Examples) -> tuple[list[dict], dict | None]:
    """The views a reader pages through (the sample; the disagreements) and the disagreement's counts."""
    total = len(examples.items.query_labels)
    shown = [{"id": "sample", "label": f"Sampled queries ({min(SITE_QUERIES, total)} of {total})",
              "queries": examples.sample(SITE_QUERIES).tolist()}]
    d = examples.disagreement
    if d is None:
        return shown, None
    counts = {"irgen": d.irgen.label, "baseline": d.baseline.label, "irgen_only": int(d.irgen_only.sum()),
              "baseline_only": int(d.baseline_only.sum()), "total": total}
    for view, irgen_right, count in (("irgen-right", True, counts["irgen_only"]),
                                     ("baseline-right", False, counts["baseline_only"])):
        queries = examples.disagreeing(irgen_right, DISAGREE_QUERIES).tolist()
        words = "IRGen right, best baseline wrong" if irgen_right else "Best baseline right, IRGen wrong"
        shown.append({"id": view, "label": f"{words} ({count} of {total})", "count": count, "queries": queries})
    return shown, counts


def section_data(examples: Examples, files: dict[str, bytes]) -> dict:
    """A section's JSON: its rows, views, disagreement counts and the queries they page through, their
    thumbnails added to ``files``; raises ``Unreadable`` where an image cannot be read."""
    mine = SectionThumbs(ItemImages(examples.items), files)
    shown, counts = views(examples)
    needed = list(dict.fromkeys(q for v in shown for q in v["queries"]))
    queries = {str(q): query_data(examples, q, mine) for q in tqdm(needed, desc=f"thumbnails {examples.section.slug}",
                                                                    leave=False, disable=None)}
    return {"slug": examples.section.slug, "title": examples.section.title, "k": int(examples.rows[0].ids.shape[1]),
            "rows": [{"label": r.label, "p_at_1": round(r.p_at_1, 6)} for r in examples.rows],
            "views": shown, "disagree": counts, "thumbs": mine.names, "queries": queries,
            "notes": [f"Not shown: {why}." for why in examples.left_out] + ([] if counts else [NO_DISAGREEMENT])}


def examples_page(all_examples: list[Examples]) -> tuple[Page, dict[str, bytes]]:
    """The page and the files it needs beside it (its script and style, the thumbnails)."""
    thumbs, sections, notes = {}, [], []
    for examples in all_examples:
        title = examples.section.title
        if not examples.rows:
            notes.append(f"{title}: no headline cell has a stored ranking (run before rankings were kept).")
            continue
        try:
            sections.append(section_data(examples, thumbs))
        except Unreadable as e:
            notes.append(f"{title}: no examples, the dataset's files cannot be read here ({e}).")
    page = Page(PAGE, "Retrieval examples")
    page.add(tag("h1", "Retrieval examples"), tag("p", inline(ABOUT)),
             tag("p", legend(), class_="ex-legend"), bullets(notes))
    if sections:
        data = json.dumps({"sections": sections}, separators=(",", ":"), sort_keys=True).replace("<", "\\u003c")
        page.add(tag("div", "", id="examples-viewer"),
                 tag("noscript", "The examples are drawn by the page's script: enable JavaScript."),
                 tag("script", data, type="application/json", id="examples-data"),
                 f'<link rel="stylesheet" href="{STYLESHEET}">', tag("script", src=SCRIPT))
    elif not notes:
        page.add(tag("p", inline("No results yet: run `./run_all.sh --quick`.")))
    files = {name: (ASSETS / name).read_bytes() for name in (SCRIPT, STYLESHEET)} if sections else {}
    return page, {**files, **thumbs}


def legend() -> str:
    """The marks, as the answers carry them."""
    return " ".join(tag("span", tag("span", esc(glyph), class_="ex-badge") + esc(words), class_=f"ex-key {kind}")
                    for kind, glyph, words in (("right", "\u2713", "solid green frame: same class as the query"),
                                               ("wrong", "\u2717", "dashed red frame: another class")))


def write_example_files(site: Path, files: dict[str, bytes]) -> list[Path]:
    """Write the page's files under ``site``; thumbnails no longer used go, and the folder with them
    when none is."""
    site = Path(site)
    stale = site / THUMBS
    if stale.is_dir():
        keep = {name for name in files if name.startswith(THUMBS + "/")}
        for path in sorted(p for p in stale.rglob("*") if p.is_file()):
            if path.relative_to(site).as_posix() not in keep:
                path.unlink()
        for folder in sorted((p for p in stale.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
        if not any(stale.iterdir()):
            stale.rmdir()
    for name in (SCRIPT, STYLESHEET):
        if name not in files:
            (site / name).unlink(missing_ok=True)
    written = []
    for name, data in sorted(files.items()):
        path = site / name
        if not (path.exists() and path.read_bytes() == data):
            atomic_write(path, lambda tmp, data=data: Path(tmp).write_bytes(data))
        written.append(path)
    return written
