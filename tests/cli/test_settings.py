"""One settings object: every ``SCENETRACK_*`` variable scenetrack reads is a typed field of
``scenetrack.config.Settings``, read when needed, validated with an error naming the
variable, and documented in the README's one table (made from the fields)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from scenetrack import config
from scenetrack.config import PROJECT_DIR, Settings, SettingsError, env_name, settings

README = PROJECT_DIR / "README.md"
TABLE = re.compile(r"<!-- settings-table: begin[^\n]*-->\n(.*?)<!-- settings-table: end -->", re.S)

# set by scenetrack for its children (dbt's profile) or printed by the test-server scripts
NOT_SETTINGS = {
    "SCENETRACK_WORK_DB",
    "SCENETRACK_DBT_TARGET",
    "SCENETRACK_PG_HOST",
    "SCENETRACK_PG_PORT",
    "SCENETRACK_PG_USER",
    "SCENETRACK_PG_PASSWORD",
    "SCENETRACK_PG_DBNAME",
    "SCENETRACK_LAST_PASSING_BUILD",
    "SCENETRACK_PG_ADMIN_DSN",
    "SCENETRACK_PG_VERSION",
    "SCENETRACK_REDIS_URL",
    "SCENETRACK_REDIS_VERSION",
}


def _sources() -> list[Path]:
    return sorted(
        [*(PROJECT_DIR / "scenetrack").rglob("*.py"), *(PROJECT_DIR / "dags").glob("*.py")]
    )


def test_the_readme_table_is_the_settings_model() -> None:
    found = TABLE.search(README.read_text(encoding="utf-8"))
    assert found, "README.md lost its settings-table markers"
    assert found.group(1) == config.settings_table(), (
        "README.md's configuration table differs from scenetrack/config.py: replace it with "
        "the output of `python -m scenetrack.config`"
    )


def test_every_variable_scenetrack_names_is_a_setting() -> None:
    fields = {env_name(f) for f in Settings.model_fields}
    named = {
        v
        for f in _sources()
        for v in re.findall(r"\bSCENETRACK_[A-Z0-9_]*[A-Z0-9]\b", f.read_text(encoding="utf-8"))
    }
    assert named - fields - NOT_SETTINGS == set()


def test_only_the_settings_object_reads_the_environment() -> None:
    direct = re.compile(r"(environ\.get\(|environ\[|getenv\()\s*[\"']SCENETRACK_")
    readers = [
        f.relative_to(PROJECT_DIR).as_posix()
        for f in _sources()
        if f.name != "config.py" and direct.search(f.read_text(encoding="utf-8"))
    ]
    assert readers == []


def test_defaults(monkeypatch) -> None:
    for f in Settings.model_fields:
        if f != "project_dir":
            monkeypatch.delenv(env_name(f), raising=False)
    s = settings()
    assert (s.volume_max_drop, s.freshness_days, s.keep_versions) == (0.5, 90, 5)
    assert (s.timezone, s.airflow_dbt, s.progress, s.reference_date) == (
        "Asia/Shanghai",
        "build",
        None,
        None,
    )
    assert config.as_of_date() == (date.today(), "today")


def test_read_when_needed_not_at_import(monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_VOLUME_MAX_DROP", "0.25")
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", " 2025-12-31 ")
    assert settings().volume_max_drop == 0.25
    assert config.as_of_date() == (date(2025, 12, 31), "SCENETRACK_REFERENCE_DATE")
    monkeypatch.setenv("SCENETRACK_VOLUME_MAX_DROP", "0.75")
    assert settings().volume_max_drop == 0.75
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "  ")  # blank = unset
    assert config.as_of_date()[1] == "today"


def test_the_modules_knobs_follow_the_settings(monkeypatch) -> None:
    from scenetrack import gate
    from scenetrack.report import slices

    monkeypatch.setenv("SCENETRACK_VOLUME_MAX_DROP", "0.2")
    monkeypatch.setenv("SCENETRACK_RANK_MIN_PROJECTS", "7")
    assert gate.VOLUME_MAX_DROP == 0.2 and slices.RANK_MIN_PROJECTS == 7
    baseline = {name.removeprefix("min_rows_"): 100 for name in gate.volume_floors(None)}
    assert baseline and set(gate.volume_floors(baseline).values()) == {80}
    monkeypatch.setenv("SCENETRACK_AIRFLOW_DBT", " Cosmos ")
    assert settings().airflow_dbt == "cosmos"


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("SCENETRACK_VOLUME_MAX_DROP", "half", "valid number"),
        ("SCENETRACK_VOLUME_MAX_DROP", "1.5", "less than or equal to 1"),
        ("SCENETRACK_FRESHNESS_DAYS", "0", "greater than or equal to 1"),
        ("SCENETRACK_REFERENCE_DATE", "31.12.2025", "valid date"),
        ("SCENETRACK_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("SCENETRACK_AIRFLOW_DBT", "kubernetes", "'build' or 'cosmos'"),
        ("SCENETRACK_PROGRESS", "loud", "'plain', 'off' or 'relay'"),
        ("SCENETRACK_LOCK_TIMEOUT", "soon", "valid number"),
        ("SCENETRACK_PG_LOCK_TIMEOUT", "a minute", "should match pattern"),
        ("SCENETRACK_DUCKDB_MEMORY_LIMIT", "lots", "should match pattern"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, var, value, says) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as exc:
        settings()
    assert f"{var}={value!r}" in str(exc.value) and says in str(exc.value)


def test_a_bad_secret_is_not_echoed(monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_BI_PASSWORD", "s3cret")
    assert "s3cret" not in repr(settings())
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "mysql://u:s3cret@h/db")
    assert "s3cret" not in repr(settings())


def test_the_cli_reports_a_bad_value_and_fails(monkeypatch, tmp_path, capsys) -> None:
    from scenetrack import cli

    monkeypatch.setenv("SCENETRACK_LOCK_TIMEOUT", "soon")
    assert cli.main(["status", "--home", str(tmp_path)]) == cli.EXIT_FAILED
    assert "SCENETRACK_LOCK_TIMEOUT='soon'" in capsys.readouterr().err


def test_doctor_reports_a_bad_value(monkeypatch) -> None:
    from scenetrack import doctor

    monkeypatch.setenv("SCENETRACK_KEEP_VERSIONS", "5")
    assert doctor.check_settings().status == doctor.OK
    monkeypatch.setenv("SCENETRACK_KEEP_VERSIONS", "five")
    check = doctor.check_settings()
    assert check.status == doctor.PROBLEM and "SCENETRACK_KEEP_VERSIONS='five'" in check.detail
