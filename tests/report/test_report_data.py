"""Rows per city for the city pages: grouped once, same rows and order as filtering."""

from __future__ import annotations

from scenetrack.report.data import Quality, ReportData


def _data() -> ReportData:
    return ReportData(
        overview=None,  # type: ignore[arg-type]  (not read by of_city)
        previous=None,
        cities={},
        domains={},
        technologies={},
        leaderboard=[],
        funnel=[
            {"breakdown": "national", "breakdown_value": "all", "stage_code": "opportunity"},
            {"breakdown": "city", "breakdown_value": "340100", "stage_code": "opportunity"},
            {"breakdown": "domain", "breakdown_value": "340100", "stage_code": "x"},
            {"breakdown": "city", "breakdown_value": "320200", "stage_code": "opportunity"},
            {"breakdown": "city", "breakdown_value": "340100", "stage_code": "validation"},
        ],
        quarterly=[],
        transitions=[
            {"city_code": "340100", "days_taken": 30},
            {"city_code": "320200", "days_taken": 5},
            {"city_code": "340100", "days_taken": 12},
        ],
        stalled=[{"city_code": "320200", "project_key": "320200:W1"}],
        terminated=[],
        supply_demand=[],
        reference_date=None,
        quality=Quality(False, "not read"),
    )


def test_rows_of_a_city_keep_the_list_order() -> None:
    d = _data()
    assert [r["days_taken"] for r in d.of_city("transitions", "340100")] == [30, 12]
    assert [r["days_taken"] for r in d.of_city("transitions", "320200")] == [5]
    assert d.of_city("stalled", "320200") == [{"city_code": "320200", "project_key": "320200:W1"}]
    assert d.of_city("stalled", "340100") == []
    assert d.of_city("terminated", "340100") == []


def test_funnel_rows_of_a_city_are_its_city_breakdown_only() -> None:
    d = _data()
    by_city = d.funnel_by("city")
    assert [r["stage_code"] for r in by_city["340100"]] == ["opportunity", "validation"]
    assert [r["stage_code"] for r in by_city["320200"]] == ["opportunity"]
    assert "all" not in by_city  # the national row is not a city
    assert [r["stage_code"] for r in d.funnel_by("domain")["340100"]] == ["x"]
    assert list(d.funnel_by("national")) == ["all"]
