// The results site's one script: draws the charts the page embeds (Plotly, bundled beside the
// pages), switches a chart's accuracy axis, and sorts tables by a clicked heading. It reads
// nothing but the page itself, so the site works from file:// and from any static server.
(function () {
  "use strict";

  // No "share" button: Plotly's uploads the chart to its cloud.
  const config = {displaylogo: false, responsive: true, showSendToCloud: false, plotlyServerURL: ""};
  const embedded = document.getElementById("charts");
  const charts = embedded ? JSON.parse(embedded.textContent) : {};

  // Draw view `index` of chart `id`, keeping the series the reader hid from the legend hidden.
  function draw(id, index) {
    const div = document.getElementById(id);
    const view = charts[id].views[index];
    const shown = (div.data || []).map(function (trace) { return trace.visible; });
    const data = view.data.map(function (trace, i) {
      return shown[i] === undefined ? trace : Object.assign({}, trace, {visible: shown[i]});
    });
    Plotly.react(div, data, view.layout, config);
  }

  Object.keys(charts).forEach(function (id) { draw(id, charts[id].selected || 0); });
  document.querySelectorAll("select[data-chart]").forEach(function (select) {
    select.addEventListener("change", function () { draw(select.dataset.chart, select.selectedIndex); });
  });

  // Table sorting: a cell's data-sort holds its number ("" when missing, sorted last either way);
  // cells without one sort as text, numbers inside it in order. Numbers sort largest first.
  function sortKey(cell) {
    if (!cell.hasAttribute("data-sort")) return {text: cell.textContent};
    const value = cell.getAttribute("data-sort");
    return value === "" ? {missing: true} : {number: parseFloat(value)};
  }

  function compare(a, b, direction) {
    if (a.missing || b.missing) return (a.missing ? 1 : 0) - (b.missing ? 1 : 0);
    if (a.number !== undefined && b.number !== undefined) return direction * (a.number - b.number);
    const x = a.text !== undefined ? a.text : String(a.number);
    const y = b.text !== undefined ? b.text : String(b.number);
    return direction * x.localeCompare(y, undefined, {numeric: true});
  }

  function sortBy(table, heading) {
    const column = Array.prototype.indexOf.call(heading.parentNode.children, heading);
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const numeric = rows.some(function (row) { return sortKey(row.cells[column]).number !== undefined; });
    const current = heading.getAttribute("aria-sort");
    const descending = current ? current === "ascending" : numeric;
    rows.sort(function (a, b) {
      return compare(sortKey(a.cells[column]), sortKey(b.cells[column]), descending ? -1 : 1);
    });
    table.querySelectorAll("th[aria-sort]").forEach(function (th) { th.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", descending ? "descending" : "ascending");
    rows.forEach(function (row) { body.appendChild(row); });
  }

  document.querySelectorAll("table.sortable thead th").forEach(function (heading) {
    heading.tabIndex = 0;
    heading.title = (heading.title ? heading.title + "; " : "") + "click to sort";
    const table = heading.closest("table");
    heading.addEventListener("click", function () { sortBy(table, heading); });
    heading.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, heading); }
    });
  });
})();
