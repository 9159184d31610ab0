"""What an evaluator does with the report, in a real headless Chromium, in both languages: filter
(and share the link), drill down from a funnel bar, download a table (CSV and Excel), print,
read it on a 390 px phone and a 1,400 px screen. Every figure read back from the page equals
the published marts, recomputed here with SQL. One report, one browser, for all checks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.report.build import lang_dir
from tests.report.conftest import ARGS

pytestmark = pytest.mark.e2e

STAGES = ("opportunity", "validation", "application", "scale_up")


def _sql(p: Paths, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _expected_activity(
    p: Paths, region: str | None, batch: str | None = None
) -> dict[tuple[str, str], int]:
    """(year, stage) -> projects entering, over the cities of ``region`` and the opportunity
    list ``batch`` (None: all)."""
    rows = _sql(
        p,
        "select a.period_label, a.stage_code, sum(a.projects_entered) "
        "from mart_stage_activity a join dim_city c using (city_code) "
        "where a.period_type = 'year' and (? is null or c.region = ?) "
        "and (? is null or a.batch_code = ?) group by all",
        [region, region, batch, batch],
    )
    return {(y, s): int(n) for y, s, n in rows}


def _shown_activity(page) -> dict[tuple[str, str], int]:
    cells = page.eval_on_selector_all(
        'table[data-table="activity_year"] tbody tr[data-key] td[data-col^="entered_"]',
        "tds => tds.map(td => [td.closest('tr').dataset.key, td.dataset.col, td.dataset.value])",
    )
    return {(y, col.removeprefix("entered_")): int(v) for y, col, v in cells if int(v)}


def _visible_keys(page, table: str) -> list[str]:
    return page.eval_on_selector_all(
        f'table[data-table="{table}"] tbody tr[data-key]',
        "trs => trs.filter(tr => tr.offsetParent !== null).map(tr => tr.dataset.key)",
    )


def _click_funnel_bar(page, chart: str, stage: str) -> None:
    """A real mouse click on the funnel bar of ``stage`` (bars in stage order)."""
    bar = page.locator(f"#chart-{chart} .trace .point path").nth(STAGES.index(stage))
    bar.scroll_into_view_if_needed()
    b = bar.bounding_box()
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)


def _ready(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_selector("html[data-ready=true]")


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_filter_drill_download_print_and_phone(built_report, browser, lang, tmp_path) -> None:
    p, pages = built_report
    index = pages[lang]
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        _ready(page, index.as_uri())
        # the activity view equals the mart, then the mart's rows of the east only
        assert _shown_activity(page) == _expected_activity(p, None)
        page.select_option('select[data-filter="region"]', "east")
        assert _shown_activity(page) == _expected_activity(p, "east")
        east = {c for (c,) in _sql(p, "select city_code from dim_city where region = 'east'")}
        board = _visible_keys(page, "leaderboard")
        assert board and set(board) <= east
        assert set(board) == east & {
            k
            for (k,) in _sql(
                p, "select city_code from mart_city_scorecard where period_type = 'all'"
            )
        }
        # the link keeps the filter: in the address, on the city links, and when reopened
        assert "f.region=east" in page.evaluate("location.hash")
        hrefs = page.eval_on_selector_all(
            'table[data-table="leaderboard"] a', "as => as.map(a => a.getAttribute('href'))"
        )
        assert hrefs and all(h.endswith("#f.region=east") for h in hrefs)
        shared = browser.new_page(viewport={"width": 1400, "height": 1000})
        _ready(shared, page.url)
        assert shared.eval_on_selector('select[data-filter="region"]', "s => s.value") == "east"
        assert _shown_activity(shared) == _expected_activity(p, "east")
        shared.close()

        # the opportunity-list batch slices the same view (every batch offered, 'none' named)
        batches = page.eval_on_selector_all(
            'select[data-filter="batch_code"] option',
            "os => os.map(o => [o.value, o.textContent])",
        )
        assert dict(batches[1:]) == {
            "2025年第1批": "2025年第1批",
            "2025年第2批": "2025年第2批",
            "none": {"zh": "无批次", "en": "no batch"}[lang],
        }
        page.select_option('select[data-filter="region"]', "")
        page.select_option('select[data-filter="batch_code"]', "2025年第1批")
        assert _shown_activity(page) == _expected_activity(p, None, "2025年第1批")
        assert _shown_activity(page) == {
            ("2025", "opportunity"): 2,
            ("2025", "validation"): 1,
            ("2025", "application"): 1,
            ("2025", "scale_up"): 1,
        }
        page.select_option('select[data-filter="batch_code"]', "")
        page.select_option('select[data-filter="region"]', "east")

        # download: the filtered leaderboard as CSV (raw mart values, the page's headers) ...
        with page.expect_download() as dl:
            page.locator("#leaderboard .buttons-csv").click()
        text = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
        assert dl.value.suggested_filename == "leaderboard.csv"
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        headers = page.eval_on_selector_all(
            'table[data-table="leaderboard"] thead th', "ths => ths.map(th => th.innerText)"
        )
        assert [h.strip() for h in rows[0]] == [h.strip() for h in headers]
        col = rows[0].index(headers[3].strip())  # opportunities published
        got = {r[0]: int(r[col]) for r in rows[1:]}
        names = "name_zh" if lang == "zh" else "name_en"
        expected = dict(
            _sql(
                p,
                f"select c.{names}, s.opportunities_published from mart_city_scorecard s "
                "join dim_city c using (city_code) where s.period_type = 'all' "
                "and c.region = 'east'",
            )
        )
        assert got == expected
        # ... and the activity by year as Excel
        with page.expect_download() as dl:
            page.locator("#activity .buttons-excel").first.click()
        from openpyxl import load_workbook

        assert dl.value.suggested_filename == "activity_year.xlsx"
        sheet = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes())).active
        values = [[c.value for c in r] for r in sheet.iter_rows()]
        header = next(i for i, r in enumerate(values) if r and r[0] and r[1])
        period_col = 0
        app_col = values[header].index(headers_of(page, "activity_year", "entered_application"))
        excel = {str(r[period_col]): int(r[app_col]) for r in values[header + 1 :] if r[0]}
        want = _expected_activity(p, "east")
        assert excel == {y: want.get((y, "application"), 0) for y in excel}

        # drill-down: a funnel bar orders the leaderboard by the cities behind that stage
        page.click("#filter-reset")
        assert page.evaluate("location.hash") == ""
        _click_funnel_bar(page, "funnel_national", "validation")
        first = _visible_keys(page, "leaderboard")[0]
        (top,) = _sql(
            p,
            "select city_code from mart_city_scorecard where period_type = 'all' "
            "order by projects_reached_validation desc limit 1",
        )[0:1]
        assert first == top[0]

        # print: whole tables (nothing clipped or scrolled away), no navigation or buttons
        page.set_viewport_size({"width": 1047, "height": 740})  # A4 landscape, 10 mm margins
        page.emulate_media(media="print")
        clipped = page.eval_on_selector_all(
            ".tablewrap",
            "ws => ws.filter(w => w.scrollHeight > w.clientHeight + 1 "
            "|| w.scrollWidth > w.clientWidth + 1).map(w => w.querySelector('table')"
            ".dataset.table)",
        )
        assert clipped == []
        assert page.eval_on_selector("nav", "n => getComputedStyle(n).display") == "none"
        hidden_rows = page.eval_on_selector_all(
            "table[data-table] tbody tr", "trs => trs.filter(tr => !tr.offsetParent).length"
        )
        assert hidden_rows == 0
        page.emulate_media(media="screen")

        # 1,400 px: every leaderboard column fits (none hidden behind a scroll bar)
        page.set_viewport_size({"width": 1400, "height": 1000})
        fits = page.eval_on_selector(
            'table[data-table="leaderboard"]',
            "t => t.scrollWidth <= t.closest('.tablewrap').clientWidth + 1",
        )
        assert fits

        # a city page: a funnel bar shows the city's projects that reached that stage
        city = lang_dir(p, lang) / "city" / "340100.html"
        _ready(page, city.as_uri())
        _click_funnel_bar(page, "city_funnel", "application")
        shown = sorted(_visible_keys(page, "projects"))
        reached = sorted(
            k
            for (k,) in _sql(
                p,
                "select project_key from fct_project_lifecycle where city_code = '340100' "
                "and application_entered_on is not null",
            )
        )
        (funnel,) = _sql(
            p,
            "select projects_reached from mart_stage_funnel where breakdown = 'city' "
            "and breakdown_value = '340100' and stage_code = 'application'",
        )
        assert shown == reached and len(shown) == funnel[0]
        assert "f.stage=application" in page.evaluate("location.hash")

        # a 390 px phone: neither page is wider than the screen (tables scroll inside)
        page.set_viewport_size({"width": 390, "height": 844})
        for url in (index.as_uri(), city.as_uri()):
            _ready(page, url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
        assert errors == []
    finally:
        page.close()


def headers_of(page, table: str, col: str) -> str:
    return page.eval_on_selector(
        f'table[data-table="{table}"] thead th[data-col="{col}"]', "th => th.innerText"
    ).strip()
