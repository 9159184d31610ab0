"""A submission channel per city: ``landing/<city>/`` says whose files they are.

A file dropped there needs no city column; a row naming another city is quarantined
(``city_mismatch``): a city reports its own projects only. Files directly in ``landing/``
behave as they always did. ``scenetrack ingest --channel`` does the same for named files.
"""

from __future__ import annotations

import json

from scenetrack import pipeline
from scenetrack.cli import main
from scenetrack.config import Paths
from tests.conftest import event, fetch, write_csv
from tests.ingestion.corpus import write_text

WUXI, HEFEI = "320200", "340100"
LIST = "场景名称,所属领域,发布日期\n港口理货,交通,2025-03-01\n冷链仓储,商贸,2025-03-02\n"


def test_files_in_a_city_folder_are_that_citys(home: Paths) -> None:
    landing = home.home / "landing"
    for folder in ("无锡", "340100", "foo"):
        (landing / folder).mkdir(parents=True)
    write_text(landing / "无锡" / "list.csv", LIST)  # no city column: the channel's
    write_csv(
        landing / "无锡" / "events.csv",
        [
            event("无锡市", "W1", "opportunity", "enter", "2025-03-01"),
            event("合肥", "H1", "opportunity", "enter", "2025-03-01"),  # another city's
        ],
    )
    write_text(landing / "340100" / "list.csv", LIST.replace("港口", "港区"))  # by code
    write_text(landing / "foo" / "list.csv", LIST + "码头,交通,2025-03-03\n")  # names no city
    write_csv(landing / "root.csv", [event("合肥", "H2", "opportunity", "enter", "2025-03-01")])
    (landing / "无锡" / "deeper").mkdir()
    write_text(landing / "无锡" / "deeper" / "x.csv", LIST)  # not a channel: never read

    receipts = {f"{r.channel or '.'}/{r.file}": r for r in pipeline.ingest_landing(home)}
    assert set(receipts) == {
        "无锡/list.csv",
        "无锡/events.csv",
        "340100/list.csv",
        "foo/list.csv",
        "./root.csv",
    }
    counts = {k: (r.status, r.rows_loaded, r.rows_quarantined) for k, r in receipts.items()}
    assert counts == {
        "无锡/list.csv": ("loaded", 2, 0),
        "无锡/events.csv": ("loaded", 1, 1),
        "340100/list.csv": ("loaded", 2, 0),
        "foo/list.csv": ("rejected", 0, 0),
        "./root.csv": ("loaded", 1, 0),
    }
    assert receipts["foo/list.csv"].reason_code == "unknown_channel"
    assert receipts["无锡/list.csv"].inferred == {"city (channel)": WUXI}
    assert fetch(
        home.work_db,
        "select source_file_name, source_line, column_name, raw_value, reason, city_code "
        "from raw.quarantine",
    ) == [
        (
            "events.csv",
            3,
            "city",
            "城市列 column: 合肥 / 渠道 channel: 无锡 (320200)",
            "city_mismatch",
            HEFEI,
        )
    ]
    assert sorted(
        fetch(home.work_db, "select distinct city_code, source_file_name from raw.events")
    ) == [
        (WUXI, "events.csv"),
        (WUXI, "list.csv"),
        (HEFEI, "list.csv"),
        (HEFEI, "root.csv"),
    ]
    assert sorted(fetch(home.work_db, "select file_name, channel from raw.file_ledger")) == [
        ("events.csv", "无锡"),
        ("list.csv", "340100"),
        ("list.csv", "foo"),
        ("list.csv", "无锡"),
        ("root.csv", None),
    ]
    # moved beside their channel: two cities' files of the same name never collide
    done = sorted(str(f.relative_to(home.home)) for f in home.home.glob("*ed/**/*") if f.is_file())
    assert done == [
        "processed/340100/list.csv",
        "processed/root.csv",
        "processed/无锡/events.csv",
        "processed/无锡/list.csv",
        "rejected/foo/list.csv",
        "rejected/foo/list.csv.receipt.json",
        "rejected/foo/list.csv.receipt.xlsx",
    ]
    assert [str(f.relative_to(landing)) for f in landing.rglob("*") if f.is_file()] == [
        "无锡/deeper/x.csv"
    ]


def test_a_link_to_a_folder_is_no_channel(home: Paths, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write_text(outside / "list.csv", LIST)
    landing = home.home / "landing"
    landing.mkdir()
    (landing / "无锡").symlink_to(outside, target_is_directory=True)
    [r] = pipeline.ingest_landing(home)
    assert (r.file, r.status, r.reason_code) == ("无锡", "rejected", "not_a_regular_file")
    assert (outside / "list.csv").exists()


def test_the_cli_names_the_channel_and_checks_its_options(home: Paths, tmp_path, capsys) -> None:
    f = write_text(tmp_path / "list.csv", LIST)
    code = main(["ingest", str(f), "--channel", "无锡", "--home", str(home.home), "--json"])
    assert code == 0
    [r] = json.loads(capsys.readouterr().out)["receipts"]
    assert (r["channel"], r["rows_loaded"], r["inferred"]) == ("无锡", 2, {"city (channel)": WUXI})
    for option, value in (("--channel", "Atlantis"), ("--city", "Suzhou")):
        assert main(["ingest", str(f), option, value, "--home", str(home.home)]) == 1
        assert f"{option}: unknown city {value!r}" in capsys.readouterr().err
    assert main(["ingest", str(f), "--published-on", "June", "--home", str(home.home)]) == 1
    assert "--published-on 'June' is no date" in capsys.readouterr().err
