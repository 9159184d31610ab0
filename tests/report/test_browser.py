"""The report in a real headless Chromium (Debian's package): loads from disk with no console
errors and no failed or network requests, every chart renders, the screenshot is not blank and
the leaderboard sorts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from scenetrack.config import Paths
from scenetrack.report import build_evaluator_outputs
from scenetrack.report.build import lang_dir
from tests.report.conftest import ARGS
from tests.report.pages import read_page

pytestmark = pytest.mark.e2e

# Decode a PNG in the browser itself (no PIL here): distinct colours and non-white share.
PIXEL_STATS = """
async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  let nonWhite = 0, n = 0;
  for (let i = 0; i < d.length; i += 4 * 7) {
    n++;
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) nonWhite++;
  }
  return { width: c.width, height: c.height, colours: colours.size, nonWhite: nonWhite / n };
}
"""


def _check_page(browser, url: str, expected_charts: int, shot: Path) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    failed: list[str] = []
    requested: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=expected_charts,
            timeout=30_000,
        )
        assert errors == [], errors
        assert failed == [], failed
        off_disk = [u for u in requested if not u.startswith(("file://", "data:"))]
        assert off_disk == [], f"the page asked the network for {off_disk}"
        plots = page.locator(".js-plotly-plot").count()
        assert plots == expected_charts
        assert page.locator(".js-plotly-plot .main-svg").count() >= expected_charts
        boxes = page.eval_on_selector_all(
            ".js-plotly-plot .main-svg",
            "els => els.map(e => { const r = e.getBoundingClientRect(); "
            "return [r.width, r.height]; })",
        )
        assert all(w > 100 and h > 100 for w, h in boxes), boxes
        # every chart drew marks (bars, funnel segments, boxes), not just empty axes
        marks = page.eval_on_selector_all(
            ".js-plotly-plot",
            "plots => plots.map(p => Array.from(p.querySelectorAll('.trace path'))"
            ".filter(e => { const r = e.getBoundingClientRect(); "
            "return r.width > 0 || r.height > 0; }).length)",
        )
        assert len(marks) == expected_charts and all(m > 0 for m in marks), marks
        png = page.screenshot(path=str(shot), full_page=True)
        stats = page.evaluate(PIXEL_STATS, base64.b64encode(png).decode())
        assert stats["width"] >= 1000 and stats["height"] >= 1000, stats
        assert stats["colours"] > 50, stats  # text, charts and colours, not a blank page
        assert stats["nonWhite"] > 0.05, stats
        return {"page": page, "stats": stats}
    except BaseException:
        page.close()
        raise


def test_report_renders_in_chromium(chromium: str, published_home: Paths, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    out = build_evaluator_outputs(published_home, dbt_docs=False)
    pages = [
        ("index_zh", out.reports["zh"]),
        ("index_en", out.reports["en"]),
        ("city_zh", lang_dir(published_home, "zh") / "city" / "340100.html"),
        ("city_en", lang_dir(published_home, "en") / "city" / "320200.html"),
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            for name, path in pages:
                n = len(read_page(path).chart_divs)
                assert n >= 4
                shot = tmp_path / f"{name}.png"
                res = _check_page(browser, path.as_uri(), n, shot)
                page = res["page"]
                assert shot.stat().st_size > 20_000
                if name == "index_zh":
                    _check_sort(page)
                page.close()
        finally:
            browser.close()


def _check_sort(page) -> None:
    """Clicking a leaderboard header sorts its rows by the cell values (DataTables)."""
    col = "cooperation_amount_yi"
    sel = f'table[data-table="leaderboard"] th[data-col="{col}"]'
    header = page.locator(sel)
    values = f'table[data-table="leaderboard"] tbody td[data-col="{col}"]'
    header.click()
    page.wait_for_function(f"document.querySelector('{sel}').ariaSort === 'ascending'")
    asc = page.eval_on_selector_all(values, "els => els.map(e => parseFloat(e.dataset.value))")
    assert asc == sorted(asc) and asc[0] < asc[-1]
    header.click()
    page.wait_for_function(f"document.querySelector('{sel}').ariaSort === 'descending'")
    desc = page.eval_on_selector_all(values, "els => els.map(e => parseFloat(e.dataset.value))")
    assert desc == sorted(desc, reverse=True)
