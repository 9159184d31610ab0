"""Evaluator outputs on a warehouse built by the real pipeline (ingest → dbt → gate → publish):
dbt docs published and linked, the report's headline figures equal the published marts, column
descriptions reach the published file, and the exports cover every mart."""

from __future__ import annotations

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.export import export
from scenetrack.report import build_evaluator_outputs
from tests.report.pages import read_page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def real_home(tmp_path_factory) -> Paths:
    from ingestion.generate import generate
    from scenetrack.pipeline import ingest_paths, run

    root = tmp_path_factory.mktemp("real")
    p = Paths(root / "home").ensure()
    files = generate(root / "subs", cities=6, seed=11)
    ingest_paths(p, files)
    run(p)
    return p


def test_outputs_after_publish(real_home: Paths) -> None:
    p = real_home
    out = build_evaluator_outputs(p)
    assert out.dbt_docs_error is None
    docs = p.published_dir / "dbt_docs" / "index.html"
    assert out.dbt_docs == docs and docs.stat().st_size > 100_000
    assert "mart_city_scorecard" in docs.read_text(encoding="utf-8")
    assert (p.published_dir / "dbt_docs" / "catalog.json").exists()

    for lang, index in out.reports.items():
        page = read_page(index)
        assert (index.parent / page.links["dbt_docs"]).resolve() == docs.resolve(), lang
        assert (index.parent / page.links["data_docs"]).exists(), lang
        assert page.figures["gate_status"][0] == "passed"
        con = duckdb.connect(str(p.published_db), read_only=True)
        try:
            cities, yuan = con.execute(
                "select count(*), sum(cooperation_amount_yuan) from mart_city_scorecard "
                "where period_type = 'all'"
            ).fetchone()
            projects = con.execute("select count(*) from fct_project_lifecycle").fetchone()[0]
            (version,) = con.execute("select version from publish_info").fetchone()
        finally:
            con.close()
        assert page.figures["cities_active"][0] == str(cities)
        assert page.figures["projects_total"][0] == str(projects)
        assert float(page.figures["cooperation_amount_yi"][0]) == pytest.approx(float(yuan) / 1e8)
        assert page.figures["version"][0] == str(version)
        assert len(page.tables["leaderboard"]) == cities


def test_published_file_carries_column_descriptions(real_home: Paths) -> None:
    """What docs/bi_access.md promises: BI tools that read DuckDB comments see dbt's docs."""
    con = duckdb.connect(str(real_home.published_db), read_only=True)
    try:
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'mart_city_scorecard' "
            "and column_name = 'cooperation_amount_yi'"
        ).fetchone()[0]
        described, total = con.execute(
            "select count(comment), count(*) from duckdb_columns() "
            "where schema_name = 'main' and table_name like 'mart_%'"
        ).fetchone()
    finally:
        con.close()
    assert comment is not None and "亿元" in comment
    assert described == total


def test_published_file_carries_table_comments_and_label_tables(real_home: Paths) -> None:
    """Every published table says what it is (dbt's model description), and BI tools find
    the Chinese and English names of stages, statuses, regions, domains and technologies."""
    con = duckdb.connect(str(real_home.published_db), read_only=True)
    try:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'main' "
                "and table_name <> 'publish_info'"
            ).fetchall()
        )
        labels = {
            t: con.execute(f"select * from {t} order by 1").fetchall()
            for t in ("dim_stage", "dim_status", "dim_region")
        }
        statuses = {
            s
            for (s,) in con.execute("select distinct status from fct_project_lifecycle").fetchall()
        }
        regions = {r for (r,) in con.execute("select distinct region from dim_city").fetchall()}
    finally:
        con.close()
    assert all(tables.values()), [t for t, c in tables.items() if not c]
    assert "活动口径" in tables["mart_stage_activity"]
    assert [r[:2] for r in labels["dim_stage"]] == [
        ("application", 3),
        ("opportunity", 1),
        ("scale_up", 4),
        ("validation", 2),
    ]
    assert statuses <= {r[0] for r in labels["dim_status"]}
    assert regions <= {r[0] for r in labels["dim_region"]}
    assert ("terminated_failed", "验证失败", "Failed") in labels["dim_status"]


def test_exports_cover_every_mart(real_home: Paths, tmp_path) -> None:
    res = export(real_home, "xlsx", out_dir=tmp_path)
    con = duckdb.connect(str(real_home.published_db), read_only=True)
    try:
        tables = {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main' "
                "and table_name <> 'publish_info'"
            ).fetchall()
        }
    finally:
        con.close()
    assert len(tables) >= 16  # facts, marts, dims, the lists' batches and technology bridge
    assert {f.stem for f in res.files} == tables


def test_data_docs_list_every_validation_with_its_status_offline(real_home: Paths, chromium):
    """GX's Data Docs from a real gate run, opened from disk with every network request
    refused: the index's validation table (drawn in the browser by bootstrap-table) lists one
    row per suite of the run, each with its status icon drawn in Font Awesome."""
    from playwright.sync_api import sync_playwright

    from scenetrack.data_docs import remote_assets
    from scenetrack.gate import load_suite_specs
    from tests.report.conftest import ARGS

    site = real_home.gate_dir / "data_docs"
    suites = {s.name for s in load_suite_specs()}
    off_disk: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def offline(route):
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    off_disk.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.goto((site / "index.html").as_uri(), wait_until="load")
            page.click("#Validation-Results-tab")
            rows = "#Validation-Results table tbody tr"
            page.wait_for_function(
                f"document.querySelectorAll('{rows}').length > 0", timeout=15_000
            )
            texts = page.eval_on_selector_all(rows, "rs => rs.map(r => r.innerText)")
            # the icons are measured once the vendored web font is in (it loads after the
            # page's load event; measured before, an icon can still be 0 px wide): a font that
            # never loads offline times out here and fails the test
            page.wait_for_function(
                "document.fonts.check('900 16px \"Font Awesome 6 Free\"')", timeout=15_000
            )
            page.evaluate("document.fonts.ready.then(() => true)")
            icons = page.eval_on_selector_all(
                f"{rows} i.fas",
                "is => is.map(i => [getComputedStyle(i).fontFamily, "
                "getComputedStyle(i, '::before').content, i.getBoundingClientRect().width])",
            )
            loaded = page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
        finally:
            browser.close()
    assert len(texts) == len(suites)
    assert {s for s in suites if any(s in t for t in texts)} == suites
    assert len(icons) == len(suites)
    assert all("Font Awesome" in f and c not in ("none", "") and w > 0 for f, c, w in icons)
    assert loaded
    assert off_disk == [] and remote_assets(site) == []
