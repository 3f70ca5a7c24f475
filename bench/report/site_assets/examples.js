// The retrieval-examples page (examples.html): draws one query at a time from the JSON the page
// embeds (examples_site.py), pages with the buttons and the arrow keys, shows or hides a row with
// its checkbox, and switches between the sampled queries and the "where they disagree" views.
// It reads nothing but the page and its thumbnails, so it works from file:// too.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("examples-data").textContent);
  const root = document.getElementById("examples-viewer");
  const state = {section: 0, view: 0, position: 0, hidden: data.sections.map(function () { return {}; })};

  function el(name, attrs, children) {
    const node = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function section() { return data.sections[state.section]; }
  function view() { return section().views[state.view]; }

  function thumb(index, alt) {
    return el("img", {src: section().thumbs[index], alt: alt, loading: "lazy"});
  }

  // One answer: its thumbnail framed right or wrong, with the mark's glyph; or an empty cell.
  function answer(pair, rank) {
    if (pair[0] < 0) return el("td", {class: "ex-answer none", title: "no answer at rank " + rank, text: "none"});
    const right = pair[1] === 1;
    return el("td", {class: "ex-answer " + (right ? "right" : "wrong"),
                     title: "rank " + rank + ": " + (right ? "same class as the query" : "another class")},
              [el("span", {class: "ex-frame"}, [thumb(pair[0], "rank " + rank),
                                                el("span", {class: "ex-badge", text: right ? "\u2713" : "\u2717"})])]);
  }

  function controls() {
    const s = section();
    const parts = [];
    if (data.sections.length > 1) {
      const select = el("select", {id: "ex-section"}, data.sections.map(function (x, i) {
        return el("option", {value: String(i), text: x.title});
      }));
      select.value = String(state.section);
      select.addEventListener("change", function () {
        state.section = Number(select.value); state.view = 0; state.position = 0; render();
      });
      parts.push(el("label", {class: "picker"}, [document.createTextNode("dataset: "), select]));
    }
    parts.push(el("div", {class: "ex-views", role: "radiogroup"}, s.views.map(function (v, i) {
      const input = el("input", {type: "radio", name: "ex-view", value: v.id});
      input.checked = i === state.view;
      input.addEventListener("change", function () { state.view = i; state.position = 0; render(); });
      const attrs = {class: "ex-view", "data-view": v.id};
      if (v.count !== undefined) attrs["data-count"] = String(v.count);
      return el("label", attrs, [input, document.createTextNode(" " + v.label)]);
    })));
    if (s.disagree) {
      const d = s.disagree;
      parts.push(el("p", {class: "ex-disagree"}, [document.createTextNode(
        "Over all " + d.total + " queries: " + d.irgen + " right at rank 1 and the best baseline, " + d.baseline +
        ", wrong on "), el("strong", {class: "ex-count", "data-count": "irgen-right",
                                                   text: String(d.irgen_only)}),
        document.createTextNode("; the reverse on "),
        el("strong", {class: "ex-count", "data-count": "baseline-right", text: String(d.baseline_only)}),
        document.createTextNode(".")]));
    }
    parts.push(el("fieldset", {class: "ex-rows"}, [el("legend", {text: "rows shown"})].concat(
      s.rows.map(function (row, i) {
        const box = el("input", {type: "checkbox", "data-row": String(i)});
        box.checked = !state.hidden[state.section][i];
        box.addEventListener("change", function () { state.hidden[state.section][i] = !box.checked; drawGrid(); });
        return el("label", {}, [box, document.createTextNode(" " + row.label + " "),
                                el("span", {class: "ex-p1", text: "(P@1 " + row.p_at_1.toFixed(3) + ")"})]);
      }))));
    if (s.notes.length) {
      parts.push(el("ul", {class: "ex-notes"}, s.notes.map(function (note) { return el("li", {text: note}); })));
    }
    const previous = el("button", {type: "button", id: "ex-previous", text: "\u2190 previous"});
    const next = el("button", {type: "button", id: "ex-next", text: "next \u2192"});
    previous.addEventListener("click", function () { move(-1); });
    next.addEventListener("click", function () { move(1); });
    parts.push(el("div", {class: "ex-pager"}, [previous, el("span", {id: "ex-position"}), next]));
    parts.push(el("div", {id: "ex-grid", class: "scroll"}));
    return parts;
  }

  function drawGrid() {
    const s = section();
    const v = view();
    const position = document.getElementById("ex-position");
    const grid = document.getElementById("ex-grid");
    grid.textContent = "";
    document.getElementById("ex-previous").disabled = state.position <= 0;
    document.getElementById("ex-next").disabled = state.position >= v.queries.length - 1;
    if (!v.queries.length) {
      position.textContent = "no such query";
      return;
    }
    const q = v.queries[state.position];
    const query = s.queries[String(q)];
    position.textContent = "query " + (state.position + 1) + " of " + v.queries.length +
      " (query #" + q + ", class " + query.class + ")";
    position.setAttribute("data-query", String(q));
    const head = el("tr", {}, [el("th", {text: ""}), el("th", {text: "query"})]);
    for (let r = 1; r <= s.k; r++) head.appendChild(el("th", {class: "num", text: String(r)}));
    const body = el("tbody");
    const shown = s.rows.map(function (_, i) { return i; }).filter(function (i) { return !state.hidden[state.section][i]; });
    shown.forEach(function (i, n) {
      const tr = el("tr", {"data-row": String(i)}, [el("th", {class: "ex-label", text: s.rows[i].label})]);
      if (n === 0) {
        tr.appendChild(el("td", {class: "ex-query", rowspan: String(shown.length)},
                             [thumb(query.thumb, "query " + q), el("div", {text: "class " + query.class})]));
      }
      query.answers[i].forEach(function (pair, j) { tr.appendChild(answer(pair, j + 1)); });
      body.appendChild(tr);
    });
    if (!shown.length) body.appendChild(el("tr", {}, [el("td", {colspan: String(s.k + 2), text: "No row shown."})]));
    grid.appendChild(el("table", {class: "ex-table"}, [el("thead", {}, [head]), body]));
  }

  function move(step) {
    const last = view().queries.length - 1;
    const to = Math.min(Math.max(state.position + step, 0), Math.max(last, 0));
    if (to !== state.position) { state.position = to; drawGrid(); }
  }

  function render() {
    root.textContent = "";
    controls().forEach(function (part) { root.appendChild(part); });
    drawGrid();
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    // the arrows page everywhere but in a menu or a text field (a radio button's or checkbox's too)
    if (target && (target.tagName === "SELECT" || target.tagName === "TEXTAREA" ||
                   (target.tagName === "INPUT" && target.type !== "radio" && target.type !== "checkbox"))) return;
    if (event.key === "ArrowRight") { event.preventDefault(); move(1); }
    if (event.key === "ArrowLeft") { event.preventDefault(); move(-1); }
  });

  render();
})();
