"""A figure described once (bench/report/chart.py) and drawn twice: the PNG and the site's Plotly
chart carry the same series, axes and marks, an interval as an error bar, and the same bytes
for the same description."""
from bench.report import plotly_json, png
from bench.report.chart import Axis, Chart, Panel, Series


def chart(err: bool = False) -> Chart:
    lines = [Series("model A / backend", [10.0, 100.0], [50.0, 70.0], err=[(45.0, 52.0), None] if err else None,
                    color="#d62728", marker="*"),
             Series("bars", ["K=1", "K=10"], [40.0, 60.0], kind="bars", err=[(33.0, 47.0), None] if err else None,
                    hatch="//"),
             Series("Pareto front", [100.0], [70.0], kind="front", color="black", dash="--", names=["model A"])]
    return Chart("a title", [Panel("", Axis("queries/s", log=True, limits=(3, 300)), Axis("P@10 (%)"), lines)])


def test_the_site_chart_has_the_described_series_and_intervals_as_error_bars():
    plain, with_err = plotly_json.figure(chart()), plotly_json.figure(chart(err=True))
    assert [t["name"] for t in plain["data"]] == ["model A / backend", "bars", "Pareto front"]
    assert plain["layout"]["xaxis"]["type"] == "log" and plain["layout"]["barmode"] == "group"
    assert plain["layout"]["xaxis"]["range"] == [0.477121, 2.47712]  # 3 to 300, in powers of ten
    assert "error_y" not in plain["data"][0]
    bars = with_err["data"][0]["error_y"]
    assert bars["array"] == [2.0, 0] and bars["arrayminus"] == [5.0, 0]  # 50 within 45 to 52; no interval
    assert "95% interval: 45 to 52" in with_err["data"][0]["text"][0] and "interval" not in with_err["data"][0]["text"][1]
    assert with_err["data"][1]["error_y"]["array"] == [7.0, 0]
    assert "model A" in with_err["data"][2]["text"][0]  # a front point hovers with its name


def test_the_png_draws_the_intervals_and_the_same_description_gives_the_same_bytes(tmp_path):
    first, again = png.draw(chart(), tmp_path / "a.png"), png.draw(chart(), tmp_path / "b.png")
    with_err = png.draw(chart(err=True), tmp_path / "c.png")
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and first.read_bytes() == again.read_bytes()
    assert with_err.read_bytes() != first.read_bytes()
