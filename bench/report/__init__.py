"""The reports, a pure function of results/: ``cells`` (results rows -> sections and cells),
``names`` (the one registry of names, colours and markers), ``paper`` (the paper's own
numbers), ``tables`` (Tables 1-6), ``chart`` (a figure described as data), ``figures``
(Figures 3-6, the trade-off plane), ``timings`` (the throughput rows), ``sweeps`` (the
backends' recall-QPS planes and table), ``db_size`` (the figure against the database size),
``png`` and ``plotly_json`` (a description drawn as a PNG, as a chart of the site),
``readme`` (reports/README.md), ``site`` (the same as pages for a browser, reports/site/;
``screenshot`` takes a picture of them), ``terminal`` (the table a command prints), ``build``
(all of it). ``python -m bench.report`` runs it."""
from .build import build

__all__ = ["build"]
