"""The picture as one self-contained HTML page: every folding of it (groups expand and collapse),
each item's table rows on hover or focus, and the summary table below.

No network: the page loads nothing (its Content-Security-Policy forbids it), names no font
but the reader's own monospace, and its one script is inline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cnninspect.draw.items import Item, Role, description, views
from cnninspect.draw.layout import layout
from cnninspect.draw.source import Finding, Row, Trace, groups_of, parts_of, rows_of, title_of
from cnninspect.draw.svg import escape, svg_document

MAX_VIEW_ITEMS = 2_000
"""Foldings with more items than this are left out of the page (the one asked for never is)."""
DETAIL_ROWS = 8
"""An item's hover panel lists at most this many of its layers (a folded group: its totals first)."""

STYLE = """
body { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 13px; margin: 16px; color: #111; }
h1 { font-size: 16px; margin: 0 0 8px; }
.controls button { font: inherit; margin-right: 6px; }
.picture { overflow-x: auto; border: 1px solid #ddd; margin: 8px 0; }
.picture svg .item { cursor: pointer; }
.picture svg .item:focus { outline: none; }
.picture svg .item:focus .face, .picture svg .item:hover .face { stroke: #000; stroke-width: 2.5; }
#detail { white-space: pre-wrap; min-height: 4.5em; border-left: 4px solid #2b5d8a; padding: 4px 8px;
  background: #f5f8fb; margin: 8px 0; }
table { border-collapse: collapse; margin-top: 12px; }
th, td { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; white-space: pre; }
td.number { text-align: right; }
tr.group td { font-weight: bold; background: #f3f3f3; }
tr.error td { color: #b00020; }
tr.warning td { color: #9a6a00; }
tr[hidden] { display: none; }
td button { font: inherit; border: none; background: none; cursor: pointer; padding: 0 4px 0 0; }
"""

SCRIPT = """
(function () {
  const details = JSON.parse(document.getElementById("details").textContent);
  const figures = Array.from(document.querySelectorAll(".picture"));
  const panel = document.getElementById("detail");
  let shown = Number(document.body.dataset.view);
  function show(index) {
    shown = Math.max(0, Math.min(figures.length - 1, index));
    figures.forEach(function (f, i) { f.hidden = i !== shown; });
    document.getElementById("fold-more").disabled = shown === 0;
    document.getElementById("fold-less").disabled = shown === figures.length - 1;
    document.getElementById("view-name").textContent = figures[shown].dataset.name;
  }
  function describe(event) {
    const item = event.target.closest(".item");
    if (!item) { return; }
    panel.textContent = details[shown][Number(item.dataset.index)].join("\\n");
  }
  figures.forEach(function (figure) {
    figure.addEventListener("mouseover", describe);
    figure.addEventListener("focusin", describe);
    figure.addEventListener("click", function (event) {
      const item = event.target.closest(".item.group, .item.run");
      if (item) { show(shown + 1); }
    });
    figure.addEventListener("keydown", function (event) {
      const item = event.target.closest(".item.group, .item.run");
      if (item && event.key === "Enter") { show(shown + 1); }
    });
  });
  document.getElementById("fold-more").addEventListener("click", function () { show(shown - 1); });
  document.getElementById("fold-less").addEventListener("click", function () { show(shown + 1); });
  document.querySelectorAll("td button").forEach(function (button) {
    button.addEventListener("click", function () {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "▾" : "▸";
      const prefix = button.closest("tr").dataset.name + ".";
      document.querySelectorAll("tbody tr").forEach(function (row) {
        if (row.dataset.name.startsWith(prefix)) { row.hidden = !open; }
      });
    });
  });
  show(shown);
})();
"""


def html_page(trace: Trace, findings: Sequence[Finding], depth: int | None) -> str:
    """The whole page."""
    parts = parts_of(trace, findings)
    rows = rows_of(trace, findings)
    by_name = {row.name: row for row in rows}
    every, wanted = views(parts, groups_of(trace), depth)
    choices = [items for index, items in enumerate(every) if index == wanted or len(items) <= MAX_VIEW_ITEMS]
    chosen = choices.index(every[wanted])
    lines = [f.line for f in findings]
    title = title_of(trace)
    figures, details = [], []
    for number, items in enumerate(choices):
        svg = svg_document(
            layout(items, lines), title, description(items, lines), interactive=True, prefix=f"v{number}"
        )
        name = f"{len(items)} items" + (" (unfolded)" if number == len(choices) - 1 else "")
        figures.append(f'<div class="picture" data-name="{escape(name)}" hidden>\n{svg}</div>')
        details.append([_detail(item, [parts[p].name for p in item.parts], by_name) for item in items])
    data = json.dumps(details, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            f'<body data-view="{chosen}">',
            f"<h1>{escape(title)}</h1>",
            '<p class="controls"><button id="fold-more" type="button">fold more</button>'
            '<button id="fold-less" type="button">unfold</button> <span id="view-name"></span> · '
            "hover or focus (Tab) a volume for its table rows; click a framed group to unfold it</p>",
            *figures,
            '<div id="detail" role="status" aria-live="polite">hover or focus a volume</div>',
            _table(rows),
            f'<script type="application/json" id="details">{data}</script>',
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _detail(item: Item, names: Sequence[str], by_name: dict[str, Row]) -> list[str]:
    """The lines of an item's hover panel: its layers' rows (a fold: its totals first), then its findings."""
    rows = [by_name[name] for name in names if name in by_name]
    lines = [f"{item.name} · {item.type} · output {item.label}"]
    if item.role in (Role.GROUP, Role.RUN) or len(rows) > DETAIL_ROWS:
        params = sum(row.params for row in rows)
        counts = [row.mult_adds for row in rows]
        adds = "?" if None in counts else f"{sum(c or 0 for c in counts):,}"
        lines.append(f"{len(rows)} layers · params {params:,} · mult-adds {adds}")
    shown = [row for row in rows if row.params or row.findings or row is rows[0]][:DETAIL_ROWS]
    lines += [_row_line(row) for row in shown]
    lines += [finding for row in rows for finding in row.findings]
    return lines


def _row_line(row: Row) -> str:
    cells = [row.name, row.type, row.filters, row.stride and f"s/p {row.stride}", row.output]
    cells.append(f"params {row.params:,}")
    cells.append(f"mult-adds {'?' if row.mult_adds is None else f'{row.mult_adds:,}'}")
    return " · ".join(cell for cell in cells if cell)


def _table(rows: Sequence[Row]) -> str:
    head = "".join(
        f"<th>{title}</th>" for title in ("Layer", "Type", "Filters", "S/P", "Output", "Params", "Mult-adds", "Finding")
    )
    body = []
    for row in rows:
        codes = " ".join(dict.fromkeys(f.split(" ", 1)[0] for f in row.findings))
        classes = " ".join(filter(None, ("group" if row.group else "", row.severity)))
        toggle = '<button type="button" aria-expanded="true">▾</button>' if row.group else ""
        adds = "?" if row.mult_adds is None else f"{row.mult_adds:,}" if row.mult_adds else "—"
        cells = [
            f"{'  ' * row.depth}{toggle}{escape(row.name)}",
            escape(row.type),
            escape(row.filters),
            escape(row.stride),
            escape(row.output),
            f"{row.params:,}" if row.params else "—",
            adds,
            escape(codes),
        ]
        numbers = (5, 6)
        tds = "".join(f'<td class="number">{c}</td>' if i in numbers else f"<td>{c}</td>" for i, c in enumerate(cells))
        title = f' title="{escape("; ".join(row.findings))}"' if row.findings else ""
        body.append(f'<tr class="{classes}" data-name="{escape(row.name)}"{title}>{tds}</tr>')
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
