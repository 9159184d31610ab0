"""Being told: one Airflow notifier for a blocked gate, a task that failed for good, and cities
that went quiet, by e-mail (SMTP, the default) and optionally a webhook, in Chinese and English.

``ScenetrackNotifier`` is an Airflow ``BaseNotifier``, used as a task callback:

- ``quality_gate``'s ``on_failure_callback`` (``kind="gate_blocked"``): the gate does not
  retry, so its failure is final and notifies once; the message names the failing
  expectations (from the gate's summary), the cities their offending rows belong to, and what
  to do (the published version is unchanged; the city corrects and resubmits);
- ``quality_gate`` itself, when per-city holdback held a city's newest submissions back and
  everyone else published (``kind="held_back"``): the message names the cities, the held files,
  their failing checks and how to release them;
- every other task's ``on_failure_callback`` in ``DEFAULT_ARGS`` (``kind="task_failed"``):
  Airflow calls it only after the last retry, never for a retried try;
- the daily ``scenetrack_watch`` DAG calls it (``kind="city_silent"``) for the cities whose
  newest report is older than ``SCENETRACK_FRESHNESS_DAYS`` (the gate's freshness rule).

Channels are Airflow connections, so nothing about them lives in code or DAG files:
``scenetrack_smtp`` (type ``smtp``; ``extra``: ``from_email``, ``to`` — comma-separated —,
``disable_ssl``/``disable_tls`` for a plain relay) goes through the SMTP provider's
``SmtpNotifier``; ``scenetrack_alerts_webhook`` (type ``http``; ``host`` the full URL) gets a
JSON POST. A channel whose connection is not defined is skipped; with neither, the message
goes to the task log only. A channel that fails is logged and does not fail the task (the
failure being reported is what matters).
"""

from __future__ import annotations

import csv
import json
import re
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from scenetrack.config import SEEDS_DIR

SMTP_CONN_ID = "scenetrack_smtp"
WEBHOOK_CONN_ID = "scenetrack_alerts_webhook"
KINDS = ("gate_blocked", "held_back", "task_failed", "city_silent")


@dataclass
class Message:
    """One alert, in both languages; ``facts`` travel as JSON to the webhook."""

    kind: str
    subject: str
    body: str
    facts: dict[str, Any] = field(default_factory=dict)


def city_names() -> dict[str, tuple[str, str]]:
    """city code -> (Chinese name, English name), from the ``ref_cities`` seed."""
    with (SEEDS_DIR / "ref_cities.csv").open(encoding="utf-8", newline="") as f:
        return {r["city_code"]: (r["name_zh"], r["name_en"]) for r in csv.DictReader(f)}


def _city_label(code: str, names: dict[str, tuple[str, str]]) -> str:
    zh, en = names.get(code, ("未知城市", "unknown city"))
    return f"{zh} {en} ({code})"


_CITY_IN_SAMPLE = re.compile(r'"(?:city_code|project_key|transition_key)":\s*"(\d{6})')


def parse_gate_summary(summary: str) -> tuple[list[str], list[str]]:
    """(failing ``error`` expectations, city codes in their offending samples) from
    :meth:`scenetrack.gate.GateResult.summary`."""
    failing, cities, in_error = [], [], False
    for line in summary.splitlines():
        s = line.strip()
        if s.startswith("ERROR "):
            failing.append(s[len("ERROR ") :])
            in_error = True
        elif s.startswith("WARN "):
            in_error = False
        elif in_error and s.startswith("cities:"):  # the gate put the failing rows on cities
            cities += [c for c in re.findall(r"\d{6}", s) if c not in cities]
        elif in_error and s.startswith(("observed:", "sample:")):
            failing[-1] += " — " + s
            cities += [c for c in _CITY_IN_SAMPLE.findall(s) if c not in cities]
    return failing, cities


def gate_blocked_message(summary: str, dag_run: str = "") -> Message:
    failing, cities = parse_gate_summary(summary)
    names = city_names()
    who = ", ".join(_city_label(c, names) for c in cities) or "见样本 / see the samples"
    checks = "\n".join(f"  - {f}" for f in failing) or "  (见任务日志 / see the task log)"
    body = f"""质量闸门拦截了本次发布；已发布的版本保持不变。
The quality gate blocked this publish; the published version is unchanged.

城市 / City: {who}
运行 / Run: {dag_run}

未通过的检查 / Failing expectations:
{checks}

怎么办 / What to do:
  1. 请该城市核对上述数据（常见原因：金额单位写错，如 亿元/万元/元），更正后重新提交文件；
     The city checks the rows above (a common cause: the amount's unit, 亿元 vs 万元 vs 元),
     corrects them and submits the file again.
  2. 更正的文件到达后流水线自动重跑；无需手动操作。
     The pipeline reruns by itself when the corrected file lands; nothing to trigger.
  3. 规则说明见 expectations/README.md；数据文档（Data Docs）见闸门输出。
     Why each rule exists: expectations/README.md; the gate's Data Docs show every check.
"""
    subject = f"[scenetrack] 质量闸门拦截发布 / Quality gate blocked the publish — {who}"
    return Message("gate_blocked", subject, body, {"failing": failing, "cities": cities})


def held_back_message(held: list[dict], dag_run: str = "") -> Message:
    """Per-city holdback: the gate held these cities' newest submissions back, everyone
    else published (scenetrack.holdback)."""
    names = city_names()
    cities = sorted({h["city_code"] for h in held})
    who = ", ".join(_city_label(c, names) for c in cities)
    lines = "\n".join(
        f"  - {_city_label(h['city_code'], names)}: {h.get('file_name') or h['source_file_sha256']}"
        f" — {'; '.join(h['checks'])}"
        for h in held
    )
    body = f"""以下城市的最新报送未通过质量闸门，已暂缓发布（数据保留在原始层）；其他城市照常发布。
These cities' newest submissions failed the quality gate and are held back (their rows stay in
the raw layer); every other city's figures were published.

城市 / City: {who}
运行 / Run: {dag_run}

暂缓的报送与未通过的检查 / Held submissions and the checks they fail:
{lines}

怎么办 / What to do:
  1. 请该城市核对上述数据（常见原因：金额单位写错，如 亿元/万元/元），更正后重新提交文件；
     The city checks those rows (a common cause: the amount's unit, 亿元 vs 万元 vs 元),
     corrects them and submits a corrected file.
  2. 更正到达后由运维人员释放：scenetrack release --city <城市代码>，下一次运行重新检查。
     When the correction has arrived, the operator releases them:
     scenetrack release --city <code>; the next run checks them again.
  3. 每条检查的说明见 expectations/RUNBOOK.md。
     What each check means and what to do: expectations/RUNBOOK.md.
"""
    subject = f"[scenetrack] 暂缓发布 / Submissions held back — {who}"
    return Message("held_back", subject, body, {"cities": cities, "held": held})


def task_failed_message(dag_id: str, task_id: str, run_id: str, tries: Any, error: str,
                        log_url: str = "") -> Message:  # fmt: skip
    body = f"""任务在重试后仍然失败 / A task failed after its retries.

任务 / Task: {dag_id}.{task_id}   运行 / Run: {run_id}   尝试次数 / Tries: {tries}
错误 / Error: {error}
日志 / Log: {log_url or "(Airflow UI → the task's log)"}

怎么办 / What to do:
  1. 看日志找出原因（磁盘、数据库连接、写锁）；数据没有丢失：文件在 landing/ 或 processed/。
     Read the log for the cause (disk, database connection, writer lock); nothing is lost:
     the files are in landing/ or processed/.
  2. 排除原因后在 Airflow 中清除（Clear）该任务以重跑；每个任务都可以安全重跑。
     Fix the cause, then Clear the task in Airflow to rerun it; every task is idempotent.
"""
    subject = f"[scenetrack] 任务失败 / Task failed after retries: {dag_id}.{task_id}"
    return Message(
        "task_failed", subject, body, {"dag_id": dag_id, "task_id": task_id, "run_id": run_id}
    )


def city_silent_message(quiet: dict[str, str], days: int) -> Message:
    names = city_names()
    lines = "\n".join(
        f"  - {_city_label(c, names)}: 最近一次报告 / last report {d}" for c, d in quiet.items()
    )
    body = f"""以下城市已超过 {days} 天没有报告
These cities have not reported for over {days} days:
{lines}

怎么办 / What to do:
  联系该城市的报送联系人，确认上传通道（landing/<城市>/）是否正常，并请其提交最新的场景清单与进展。
  Contact the city's reporting officer, check that its upload channel (landing/<city>/) works,
  and ask for its latest scene lists and progress reports.
"""
    subject = (
        f"[scenetrack] {len(quiet)} 个城市超过 {days} 天未报告 / "
        f"{len(quiet)} cities silent for {days} days"
    )
    return Message("city_silent", subject, body, {"cities": quiet, "days": days})


def message_from_context(kind: str, context: dict) -> Message:
    """Build the message of ``kind`` from an Airflow callback's context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    run_id = getattr(dag_run, "run_id", "") or ""
    error = str(context.get("exception") or "")
    exc = context.get("exception")
    if kind == "gate_blocked" and type(exc).__name__ == "GateBlockedError":
        return gate_blocked_message(error, run_id)
    if kind == "held_back":
        return held_back_message(list(context["held_back"]), run_id)
    if kind == "city_silent":
        return city_silent_message(context["quiet_cities"], context["freshness_days"])
    return task_failed_message(
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        run_id,
        getattr(ti, "try_number", "?"),
        error.splitlines()[0] if error else "(see the log)",
        getattr(ti, "log_url", "") or "",
    )


def quiet_cities(p: Any, run_date: date | None = None) -> dict[str, str]:
    """Cities whose newest report is older than the gate's freshness limit: city code ->
    the date of that report. The gate's own rule (``expectations/source_freshness.json``'s
    batch query, ``SCENETRACK_FRESHNESS_DAYS``), read from the selected warehouse."""
    from datetime import timedelta

    from scenetrack.config import EXPECTATIONS_DIR, as_of_date, settings, warehouse_target

    spec = json.loads((EXPECTATIONS_DIR / "source_freshness.json").read_text(encoding="utf-8"))
    query = spec["meta"]["batch_query"]
    # the evaluation date of the marts when pinned (SCENETRACK_REFERENCE_DATE), else today
    today = run_date or as_of_date()[0]
    since = today - timedelta(days=settings().freshness_days)
    pg = warehouse_target()
    if pg is not None:
        import psycopg

        from scenetrack.postgres import connect

        with connect(pg, autocommit=True) as con:
            try:
                rows = con.execute(query).fetchall()
            except psycopg.errors.UndefinedTable:  # nothing built yet: nobody to miss
                return {}
    else:
        import duckdb

        from scenetrack.warehouse import writer_lock

        if not p.work_db.exists():
            return {}
        with writer_lock(p):
            con = duckdb.connect(str(p.work_db), read_only=True)
            try:
                rows = con.execute(query).fetchall()
            except duckdb.CatalogException:  # nothing built yet
                return {}
            finally:
                con.close()
    return {
        c: d.isoformat()
        for c, d in rows
        if d is not None and (d.date() if hasattr(d, "date") else d) < since
    }


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def send_email(conn: Any, msg: Message, context: dict) -> None:
    """Through the SMTP provider's ``SmtpNotifier`` (its hook reads the connection)."""
    from html import escape

    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    extra = conn.extra_dejson
    to = [a.strip() for a in str(extra.get("to", "")).split(",") if a.strip()]
    if not to:
        raise ValueError(f"connection {SMTP_CONN_ID!r} names no recipient (extra 'to')")
    SmtpNotifier(
        to=to,
        from_email=extra.get("from_email"),
        subject=msg.subject,
        html_content=f"<pre>{escape(msg.body)}</pre>",
        smtp_conn_id=SMTP_CONN_ID,
    ).notify(context)


def post_webhook(url: str, msg: Message, timeout: float = 10.0) -> int:
    """POST the message as JSON; returns the HTTP status."""
    data = json.dumps(
        {"kind": msg.kind, "subject": msg.subject, "text": msg.body, **msg.facts},
        ensure_ascii=False,
    ).encode("utf-8")
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status


class ScenetrackNotifier(BaseNotifier):
    """The platform's alert (see module doc); ``kind`` is one of :data:`KINDS`."""

    template_fields = ()

    def __init__(self, kind: str, **kwargs: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        super().__init__(**kwargs)
        self.kind = kind

    def notify(self, context: dict) -> None:
        msg = message_from_context(self.kind, context)
        self.log.warning("%s\n%s", msg.subject, msg.body)
        for conn_id, send in (
            (SMTP_CONN_ID, lambda c: send_email(c, msg, context)),
            (WEBHOOK_CONN_ID, lambda c: post_webhook(c.host, msg)),
        ):
            try:
                conn = _connection(conn_id)
                if conn is not None:
                    send(conn)
                    self.log.info("alert sent through %s", conn_id)
            except Exception:  # noqa: BLE001 - a channel down must not hide the failure itself
                self.log.exception("could not send the alert through %s", conn_id)
