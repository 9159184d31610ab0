"""What a file says about itself outside its rows: the title rows, the channel, the operator.

A published list (场景机会清单, 能力清单) usually names its city, publication date and batch only
in its title (``无锡市2025年第二批场景机会清单（发布日期：2025年6月18日）``). Each row's city,
publication date and batch come, in this order, from:

- **city**: the row's city column; the title rows; the submission channel (the folder
  ``<home>/landing/<city>/`` or ``scenetrack ingest --channel``); ``scenetrack ingest --city``.
  Every source present must name the same city: when two disagree the row is quarantined as
  ``city_mismatch`` (a city reports its own projects only), never guessed.
- **publication date**: the row's date column; the title rows (a labelled ``发布日期：…`` first,
  else the one date they hold: ``2025年6月18日``, ``（2025年6月）``); ``--published-on``.
- **batch**: the row's 批次 column; the title rows (``第二批``, ``2025年第2批``, ``首批``).

The title rows are read here, in Python (a few short strings per file); the rows themselves
are resolved in the one SQL statement that normalises the file (:mod:`ingestion.sql`), from
the per-file values of :class:`FileContext`.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import duckdb

from ingestion.locations import seeds_dir
from ingestion.reference import CITY_ALIASES_FILE, resolve_city

# A date in a title: labelled (发布日期：2025年6月18日) or bare; day or month precision.
_DAY = (
    r"(?P<y>20\d{2})\s*(?:年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"
    r"|[-/.](?P<m2>\d{1,2})[-/.](?P<d2>\d{1,2}))"
)
_MONTH = r"(?P<y>20\d{2})\s*(?:年\s*(?P<m>\d{1,2})\s*月(?!\s*\d)|[-/.](?P<m2>\d{1,2})(?![-/.\d]))"
_LABEL = r"(?:发布日期|发布时间|公布日期|印发日期|日期)\s*[:：]?\s*"
# A batch in a title: 第二批, 第2批, 2025年第2批, 2025年度第三批, 首批.
BATCH_PATTERN = r"(?:20\d{2}\s*年度?\s*)?第\s*[0-9一二三四五六七八九十百两〇零]+\s*批|首批"


@dataclass(frozen=True)
class Context:
    """What the operator or the landing folder says about a file (none of it from the file).

    ``channel``: the submission channel as named (the ``landing/<name>/`` folder, or
    ``--channel``); ``city``: ``--city``; ``published_on``: ``--published-on``. Each is text
    as given; :func:`file_context` resolves them.
    """

    channel: str | None = None
    city: str | None = None
    published_on: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.channel or self.city or self.published_on)


@dataclass(frozen=True)
class DateFound:
    iso: str  # the first day of the month for month precision
    precision: str  # day | month
    written: str


@dataclass
class TitleFacts:
    """What the title rows say: the city (code), publication date and batch, when they do."""

    city_code: str | None = None
    city_written: str | None = None
    date: DateFound | None = None
    batch: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class FileContext:
    """The per-file values the normalising SQL reads (codes resolved), and what the receipt
    says about where each came from."""

    title_city: str | None = None
    channel_city: str | None = None
    option_city: str | None = None
    written: dict[str, str] = field(default_factory=dict)  # source -> the city as written
    date: str | None = None  # ISO
    date_precision: str | None = None
    date_source: str | None = None  # title | --published-on
    batch: str | None = None  # the batch as the title wrote it
    notes: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return any((self.title_city, self.channel_city, self.option_city, self.date, self.batch))

    def city_sources(self) -> str | None:
        """The file-level sources of the city, for a ``city_mismatch`` entry's value."""
        parts = [
            f"{label}: {self.written.get(source, code)} ({code})"
            for source, label, code in (
                ("title", "标题 title", self.title_city),
                ("channel", "渠道 channel", self.channel_city),
                ("--city", "--city", self.option_city),
            )
            if code
        ]
        return "; ".join(parts) or None

    def inferred(self) -> dict[str, str]:
        """For the receipt: each value taken from outside the rows, and from where."""
        out: dict[str, str] = {}
        for source, code in (
            ("title", self.title_city),
            ("channel", self.channel_city),
            ("--city", self.option_city),
        ):
            if code:
                out[f"city ({source})"] = code
        if self.date:
            out[f"published date ({self.date_source})"] = self.date
        if self.batch:
            out["batch (title)"] = self.batch
        return out


@cache
def _city_names() -> tuple[tuple[str, str], ...]:
    """(Chinese name, city code) for title search, longest first (马鞍山 before 鞍山)."""
    names: dict[str, str] = {}
    with (seeds_dir() / "ref_cities.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            names[r["name_zh"]] = r["city_code"]
    with CITY_ALIASES_FILE.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if not r["alias"].isascii():
                names.setdefault(r["alias"], r["city_code"])
    return tuple(sorted(names.items(), key=lambda kv: (-len(kv[0]), kv[0])))


def cities_in(text: str) -> list[tuple[str, str]]:
    """(name as written, code) of each city a title names, in order of appearance.

    A name followed by 省 is a province (吉林省), not the city. When some name is written with
    市 (无锡市), only such names count: a bare two-character name inside a title is more often
    a word than a city.
    """
    taken: list[tuple[int, int, str, str]] = []
    for name, code in _city_names():
        for m in re.finditer(re.escape(name), text):
            start, end = m.span()
            if text[end : end + 1] == "省" or any(s < end and start < e for s, e, *_ in taken):
                continue
            written = name + ("市" if text[end : end + 1] == "市" else "")
            taken.append((start, end, written, code))
    taken.sort()
    with_shi = [t for t in taken if t[2].endswith("市")]
    return [(w, c) for _, _, w, c in (with_shi or taken)]


def _date_of(m: re.Match, precision: str) -> DateFound | None:
    y = int(m.group("y"))
    month = int(m.group("m") or m.group("m2"))
    day = 1
    if precision == "day":
        day = int(m.group("d") or m.group("d2"))
    try:
        when = dt.date(y, month, day)
    except ValueError:
        return None
    return DateFound(when.isoformat(), precision, m.group(0))


def dates_in(text: str) -> tuple[DateFound | None, list[DateFound]]:
    """(the labelled date, every date) a text holds; day dates before month dates."""
    labelled = None
    for pattern, precision in ((_DAY, "day"), (_MONTH, "month")):
        m = re.search(_LABEL + pattern, text)
        if m and labelled is None:
            labelled = _date_of(re.search(pattern, m.group(0)), precision)
    found: list[DateFound] = []
    days = list(re.finditer(_DAY, text))
    for m in days:
        if (d := _date_of(m, "day")) is not None:
            found.append(d)
    rest = text
    for m in reversed(days):  # a day date is no month date
        rest = rest[: m.start()] + " " * (m.end() - m.start()) + rest[m.end() :]
    for m in re.finditer(_MONTH, rest):
        if (d := _date_of(m, "month")) is not None:
            found.append(d)
    return labelled, found


def parse_date(text: str) -> DateFound | None:
    """One date from an operator's text (``--published-on 2025-06-18``, ``2025年6月``)."""
    s = unicodedata.normalize("NFKC", text).strip()
    for pattern, precision in ((_DAY, "day"), (_MONTH, "month")):
        m = re.fullmatch(pattern, s)
        if m:
            return _date_of(m, precision)
    return None


def read_titles(titles: list[str]) -> TitleFacts:
    """The city, publication date and batch the title rows name (each only when unambiguous)."""
    facts = TitleFacts()
    text = unicodedata.normalize("NFKC", " ".join(titles))
    if not text.strip():
        return facts
    cities = cities_in(text)
    codes = {c for _, c in cities}
    if len(codes) == 1:
        facts.city_written, facts.city_code = cities[0]
    elif len(codes) > 1:
        facts.notes.append(
            "the title rows name several cities ("
            + ", ".join(dict.fromkeys(w for w, _ in cities))
            + "): none of them is taken as the file's city"
        )
    labelled, dates = dates_in(text)
    distinct = {(d.iso, d.precision) for d in dates}
    if labelled is not None:
        facts.date = labelled
    elif len(distinct) == 1:
        facts.date = dates[0]
    elif len(distinct) > 1:
        facts.notes.append(
            "the title rows hold several dates ("
            + ", ".join(d.written for d in dates)
            + ") and none is labelled 发布日期: no publication date is taken from them"
        )
    batch = re.search(BATCH_PATTERN, text)
    if batch:
        facts.batch = re.sub(r"\s+", "", batch.group(0))
    return facts


class UnknownChannelError(ValueError):
    """A channel folder (or ``--channel``) that names no city: its files are rejected."""


def file_context(
    con: duckdb.DuckDBPyConnection, titles: list[str], given: Context | None
) -> FileContext:
    """The per-file values for the normalising SQL: the title rows read, the channel and the
    operator's city resolved to codes (the connection holds the reference tables).

    Raises :class:`UnknownChannelError` for a channel that names no city, ``ValueError`` for
    an operator's ``--city`` or ``--published-on`` that cannot be read.
    """
    given = given or Context()
    facts = read_titles(titles)
    out = FileContext(title_city=facts.city_code, batch=facts.batch, notes=list(facts.notes))
    if facts.city_written:
        out.written["title"] = facts.city_written
    if given.channel:
        out.channel_city = resolve_city(con, given.channel)
        if out.channel_city is None:
            raise UnknownChannelError(
                f"the submission channel {given.channel!r} names no city: put the file in "
                "landing/ itself or in a folder named after its city (landing/无锡/, "
                "landing/320200/)"
            )
        out.written["channel"] = given.channel
    if given.city:
        out.option_city = resolve_city(con, given.city)
        if out.option_city is None:
            raise ValueError(f"--city {given.city!r} names no city: give 合肥, Hefei or 340100")
        out.written["--city"] = given.city
    found, source = facts.date, "title"
    if found is None and given.published_on:
        found, source = parse_date(given.published_on), "--published-on"
        if found is None:
            raise ValueError(
                f"--published-on {given.published_on!r} is no date: write 2025-06-18 or 2025-06"
            )
    if found is not None:
        out.date, out.date_precision, out.date_source = found.iso, found.precision, source
    return out
