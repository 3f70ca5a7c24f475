"""A figure described once, as data: its panels, their axes and series, the marks and notes.
``png`` draws a ``Chart`` as a PNG (matplotlib), ``plotly`` as a chart of the site; neither
decides what a figure shows. A series is a model's (its colour), a backend's (its marker and
line) or a stage's, as ``style`` gives them from ``names``."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import names


@dataclass
class Series:
    """One series of a panel. ``kind``: ``line`` (lines and markers), ``points`` (markers only),
    ``bars`` (a bar per x category, beside the panel's other bar series), ``stack`` (a segment of
    stacked bars), ``marks`` (reference marks on x categories: the paper's totals), ``front``
    (a Pareto front: a step line through numbered points, named in the legend). ``hover``: per
    point, the (name, value) lines a reader sees over it (none: the axes' values). ``err``: per
    point, the (low, high) interval of y drawn as an error bar (None: no bar)."""

    label: str
    x: list
    y: list
    kind: str = "line"
    color: str = "#7f7f7f"
    marker: str = "o"  # matplotlib's marker codes, line styles and hatches
    dash: str = "-"
    width: float = 1.4
    size: float = 5.0
    hatch: str | None = None
    alpha: float = 1.0
    hover: list[list[tuple[str, str]]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # per point, its name (a Pareto front's points)
    err: list[tuple[float, float] | None] | None = None
    group: str = ""  # series of one group share one legend entry and are shown or hidden together
    legend: bool = True
    sparse: bool = False  # markers on a few points of a long line only (every point still hovers)
    thick: bool = False  # drawn above the others (a generative method's series)


@dataclass
class Axis:
    label: str
    log: bool = False
    limits: tuple[float | None, float | None] | None = None
    ticks: list | None = None  # values labelled as plain numbers (a log axis' K or batch sizes)


@dataclass
class Panel:
    """One set of axes. ``dividers``: x positions of dashed vertical lines between categories;
    ``spans``: (first, last category index, words) written above those categories; ``totals``:
    each stack's total written above it."""

    title: str
    x: Axis
    y: Axis
    series: list[Series] = field(default_factory=list)
    dividers: list[float] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    totals: str = ""  # the format of a stack's total ("{:.3g} s"), "" for none


@dataclass
class Chart:
    """A figure: its panels (``columns`` to a row), its size in inches for the PNG, the notes
    under it and, where the site offers several views of one figure, this view's ``label``."""

    title: str
    panels: list[Panel]
    size: tuple[float, float] = (7.5, 4.5)
    columns: int = 1
    notes: list[str] = field(default_factory=list)
    label: str = ""


def style(method: str, backend: str) -> dict:
    """A model x backend series' look: the model's colour, the backend's marker and line; a
    generative method's series thick and above the others, a backend's bars hatched by its line."""
    thick = names.spec(method).generative
    look = names.backend(backend)
    return {"color": names.model(method).color, "marker": look.marker, "dash": look.line,
            "width": 2.2 if thick else 1.4, "size": 9 if thick else 5, "thick": thick,
            "hatch": None if thick else {"--": "//", "-.": "..", ":": "xx"}.get(look.line)}


def look_style(look: names.Look, **extra) -> dict:
    """A backend's or a scaling part's own look (its colour too)."""
    return {"color": look.color, "marker": look.marker, "dash": look.line, **extra}
