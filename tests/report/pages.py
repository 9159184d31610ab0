"""Read back what a report page shows: figures, tables, charts and links (stdlib parser)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Page:
    figures: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, text)
    deltas: dict[str, tuple[str, str]] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)  # name -> rows
    charts: dict[str, dict] = field(default_factory=dict)  # key -> plotly spec
    chart_divs: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # data-link -> href
    notes: dict[str, str] = field(default_factory=dict)  # table name -> its note ("N of M")
    full_lists: dict[str, str] = field(default_factory=dict)  # table name -> where all rows are
    scripts_src: list[str] = field(default_factory=list)
    text: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._capture: list[tuple[str, str, str, list[str]]] = []  # (kind, name, value, buf)
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: tuple[str, str, list[str]] | None = None
        self._spec: tuple[str, list[str]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-figure" in a:
            self._capture.append(("figure", a["data-figure"], a.get("data-value", ""), []))
        elif "data-delta" in a:
            self._capture.append(("delta", a["data-delta"], a.get("data-value", ""), []))
        elif "data-note" in a:
            self._capture.append(("note", a["data-note"], "", []))
        elif "data-full-list" in a:
            self._capture.append(("full_list", a["data-full-list"], "", []))
        if tag == "table" and "data-table" in a:
            self._table = a["data-table"]
            self.page.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"_key": a.get("data-key")}
        elif tag == "td" and self._row is not None:
            self._cell = (a["data-col"], a.get("data-value", ""), [])
        elif tag == "script":
            if a.get("type") == "application/json" and a.get("id", "").startswith("spec-"):
                self._spec = (a["id"][5:], [])
            if a.get("src"):
                self.page.scripts_src.append(a["src"])
        elif tag == "div" and "data-chart" in a:
            self.page.chart_divs.append(a["data-chart"])
        elif tag == "a" and "data-link" in a:
            self.page.links[a["data-link"]] = a["href"]

    def handle_endtag(self, tag):
        if tag in ("span", "p") and self._capture:
            kind, name, value, buf = self._capture.pop()
            text = "".join(buf).strip()
            if kind == "note":
                self.page.notes[name] = text
            elif kind == "full_list":
                self.page.full_lists[name] = text
            else:
                target = self.page.figures if kind == "figure" else self.page.deltas
                target[name] = (value, text)
        elif tag == "td" and self._cell is not None and self._row is not None:
            col, value, buf = self._cell
            self._row[col] = (value, "".join(buf).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if len(self._row) > 1:
                self.page.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._spec is not None:
            key, buf = self._spec
            self.page.charts[key] = json.loads("".join(buf))
            self._spec = None

    def handle_data(self, data):
        for _, _, _, buf in self._capture:
            buf.append(data)
        if self._cell is not None:
            self._cell[2].append(data)
        if self._spec is not None:
            self._spec[1].append(data)
        self._text.append(data)


def read_page(path: Path) -> Page:
    parser = _Parser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.page.text = "".join(parser._text)
    return parser.page
