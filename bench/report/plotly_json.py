"""A ``chart.Chart`` as a Plotly figure (JSON data the site's pages embed): the same series,
axes and marks as its PNG (its notes for the page to write below it), each point hovered with its lines (its interval too, where it
has one), a legend entry per series or group that shows and hides it. Numbers are rounded to 6
digits, so the same results give the same bytes."""
from __future__ import annotations

import html
import math

from .chart import Axis, Chart, Panel, Series

SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "v": "triangle-down", "D": "diamond", "*": "star",
           "P": "cross", "X": "x", "p": "pentagon", "h": "hexagon"}  # matplotlib marker -> Plotly symbol
DASHES = {"-": "solid", "--": "dash", "-.": "dashdot", ":": "dot"}
MARKERS_SHOWN = 12  # markers drawn along a long line (every point still hovers), as the PNGs' markevery


def num(value) -> float | None:
    """A number as the page stores it: 6 significant digits (the same bytes on every run), NaN as null."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(f"{float(value):.6g}")


def number(value: float) -> str:
    """A speed or size in words: thousands separated, small values to 3 digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def text(words: str) -> str:
    """Words for a Plotly title, label or hover: escaped, line breaks as <br>."""
    return html.escape(str(words), quote=True).replace("\n", "<br>")


def hover(title: str, pairs: list[tuple[str, str]]) -> str:
    return f"<b>{text(title)}</b>" + "".join(f"<br>{text(k)}: {text(v)}" for k, v in pairs)


def views(charts: list[Chart], selected: int = 0) -> dict:
    """Several views of one figure (the reader picks one by its label: the plane's accuracy axis);
    the notes under the figure the page writes below it."""
    return {"views": [{"label": c.label, **figure(c)} for c in charts], "selected": selected, "notes": charts[0].notes}


def figure(chart: Chart) -> dict:
    """``{"data": traces, "layout": layout}``; a grid of panels shares one legend."""
    many = len(chart.panels) > 1
    traces, layout, shown = [], {}, set()
    for i, panel in enumerate(chart.panels, 1):
        suffix = str(i) if many and i > 1 else ""
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"} if many else {}
        for s in panel.series:
            trace = series_trace(s, panel)
            trace.update(axes, legendgroup=s.group or s.label, showlegend=s.legend and (s.group or s.label) not in shown)
            shown.add(s.group or s.label) if s.legend else None
            traces.append(trace)
        traces += totals(panel)
        layout[f"xaxis{suffix}"] = {**axis(panel.x), **({"nticks": 5} if many else {})}
        layout[f"yaxis{suffix}"] = {**axis(panel.y), **({"nticks": 6} if many else {})}
        if many:  # a panel's title above it
            layout.setdefault("annotations", []).append(
                {"text": f"<b>{text(panel.title)}</b>", "xref": f"x{suffix} domain", "yref": f"y{suffix} domain",
                 "x": 0.5, "y": 1.12, "showarrow": False, "font": {"size": 12}})
    bars = {s.kind for p in chart.panels for s in p.series} & {"bars", "stack"}
    layout.update({"title": {"text": text(chart.title), "font": {"size": 13 if many else 14}},
                   "hovermode": "closest", "legend": {"font": {"size": 11}}, "margin": {"t": 110 if many else 70},
                   **({"barmode": "group" if "bars" in bars else "stack"} if bars else {})})
    if many:
        rows = math.ceil((len(chart.panels) + 1) / chart.columns)
        layout.update(grid={"rows": rows, "columns": chart.columns, "pattern": "independent"}, height=400 * rows)
    else:
        layout.update(marks(chart.panels[0]))
    return {"data": traces, "layout": layout}


def axis(spec: Axis) -> dict:
    """An axis, log or Plotly's guess ("-"); log ticks labelled 20, 50 rather than 2, 5."""
    out = {"title": {"text": text(spec.label)}, **({"type": "log", "minorloglabels": "complete"} if spec.log
                                                    else {"type": "-"})}
    if spec.ticks:
        out.update(tickvals=spec.ticks, ticktext=[f"{t:g}" for t in spec.ticks])
    if spec.limits and None not in spec.limits:  # a log axis' range is in powers of ten
        out["range"] = [num(math.log10(v) if spec.log else v) for v in spec.limits]
    elif spec.limits and spec.limits[0] == 0:
        out["rangemode"] = "tozero"
    return out


def marks(panel: Panel) -> dict:
    """The panel's dividers (dashed lines between categories) and the words over spans of them."""
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
               "line": {"color": "grey", "dash": "dash", "width": 1}} for x in panel.dividers]
    notes = [{"text": text(words), "xref": "x", "yref": "paper", "x": (first + last) / 2, "y": 1.0, "yanchor": "bottom",
              "showarrow": False, "font": {"size": 11}} for first, last, words in panel.spans]
    return {**({"shapes": shapes} if shapes else {}), **({"annotations": notes} if notes else {})}


def hovers(s: Series, panel: Panel) -> list[str]:
    """Each point's hover: the series' lines for it (else the axes' values), and its interval."""
    out = []
    for i, (x, y) in enumerate(zip(s.x, s.y)):
        pairs = list(s.hover[i]) if i < len(s.hover) else [
            (panel.x.label or "x", x if isinstance(x, str) else number(x)),
            (panel.y.label, "–" if y is None else number(y))]
        if s.err and s.err[i]:
            pairs.append(("95% interval", f"{number(s.err[i][0])} to {number(s.err[i][1])}"))
        out.append(hover(s.label if not s.names else f"{s.label}: {s.names[i]}", pairs))
    return out


def series_trace(s: Series, panel: Panel) -> dict:
    trace = {"name": text(s.label), "x": [text(x) if isinstance(x, str) else num(x) for x in s.x],
             "y": [num(v) for v in s.y], "text": hovers(s, panel), "hovertemplate": "%{text}<extra></extra>"}
    if s.err:
        trace["error_y"] = {"type": "data", "visible": True, "color": s.color,
                            "array": [num(e[1] - y) if e else 0 for y, e in zip(s.y, s.err)],
                            "arrayminus": [num(y - e[0]) if e else 0 for y, e in zip(s.y, s.err)]}
    if s.kind in ("bars", "stack"):
        pattern = {"pattern": {"shape": s.hatch[0] if s.hatch else ""}} if s.kind == "bars" else {}
        edge = {"color": "black", "width": 0.5} if s.kind == "bars" else {"color": "white", "width": 0.5}
        return {"type": "bar", **trace, "marker": {"color": s.color, "line": edge, **pattern}}
    if s.kind == "marks":
        return {"type": "scatter", "mode": "markers", **trace,
                "marker": {"symbol": "line-ew-open", "size": 34, "color": s.color, "line": {"width": 3}}}
    if s.kind == "front":
        return {"type": "scatter", "mode": "lines+markers", **trace,
                "line": {"color": s.color, "dash": DASHES[s.dash], "width": s.width, "shape": "vh"},
                "marker": {"symbol": "circle-open", "size": 18, "color": s.color}}
    mode = "markers" if s.kind == "points" else "lines+markers" if s.marker else "lines"
    return {"type": "scatter", "mode": mode, **trace,
            **({"opacity": s.alpha} if s.alpha != 1 else {}),
            "line": {"color": s.color, "dash": DASHES.get(s.dash, "solid"), "width": s.width},
            "marker": {"symbol": SYMBOLS.get(s.marker, "circle"), "size": s.size + 3, "color": s.color,
                       **({"maxdisplayed": MARKERS_SHOWN} if s.sparse else {})}}


def totals(panel: Panel) -> list[dict]:
    """Each stack's total written above it, as the PNG writes it."""
    stacks = [s for s in panel.series if s.kind == "stack"]
    if not panel.totals or not stacks:
        return []
    sums: dict[str, float] = {}
    for s in stacks:
        for x, v in zip(s.x, s.y):
            sums[x] = sums.get(x, 0.0) + v
    return [{"type": "scatter", "mode": "text", "x": [text(x) for x in sums], "y": [num(v) for v in sums.values()],
             "showlegend": False, "text": [panel.totals.format(v) for v in sums.values()],
             "textposition": "top center", "hoverinfo": "skip"}]
