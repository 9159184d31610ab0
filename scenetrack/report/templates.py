# ruff: noqa: E501  (HTML/Jinja markup: breaking these lines would change what is rendered)
"""Jinja2 templates of the report, kept as Python strings so they ship inside the package.

Conventions the tests and the browser check rely on:

- a headline figure is ``<span data-figure="NAME" data-value="RAW">formatted</span>``;
- a table is ``<table data-table="NAME">``; each body cell is
  ``<td data-col="COLUMN" data-value="RAW">formatted</td>`` (``data-value`` is also the sort key);
- a chart is ``<div class="plot" data-chart="KEY">`` with its Plotly JSON in
  ``<script type="application/json" id="spec-KEY">``.
"""

from __future__ import annotations

BASE = r"""{% from "macros.html" import fig with context %}<!doctype html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{% block title %}{{ L.title }}{% endblock %}</title>
<style>
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #1d4e89; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei",
       "PingFang SC", system-ui, sans-serif; color: var(--ink); background: var(--bg);
       line-height: 1.5; }
header { background: var(--accent); color: #fff; padding: 16px 28px; }
header h1 { margin: 0; font-size: 1.5rem; }
header p { margin: 4px 0 0; opacity: .85; }
header a { color: #fff; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px;
      position: sticky; top: 0; z-index: 10; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav .lang { margin-left: auto; font-weight: bold; }
.version { font-size: .9rem; }
.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
.filters select { font-size: .95rem; padding: 3px 6px; max-width: 14em; }
main { padding: 8px 28px 40px; max-width: 1400px; margin: 0 auto; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 16px 20px; margin: 18px 0; }
h2 { margin: 0 0 8px; font-size: 1.25rem; color: var(--accent); }
h3 { margin: 18px 0 6px; font-size: 1.05rem; }
.note { color: var(--muted); font-size: .9rem; margin: 4px 0 10px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.kpi .label { color: var(--muted); font-size: .85rem; }
.kpi .value { font-size: 1.6rem; font-weight: 600; }
.kpi .delta { font-size: .85rem; color: var(--muted); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(480px, 100%), 1fr));
         gap: 16px; }
figure.chart { margin: 0; }
figure.chart figcaption { font-weight: 600; margin: 6px 0; }
.plot { min-height: 320px; }
.tablewrap { overflow-x: auto; max-height: 640px; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 6px; text-align: left;
         vertical-align: top; }
th { background: #eef2f7; position: sticky; top: 0; white-space: normal; }
td.early { color: var(--muted); font-style: italic; }
/* wide tables (the leaderboard has 18 columns) fit 1,400 px: headers wrap, even inside a
   long word, and DataTables' sort arrows take less room */
table.dataTable { font-size: .82rem; }
table.dataTable > thead > tr > th { font-size: .78rem; overflow-wrap: anywhere;
  padding: 4px 14px 4px 4px; }
table.dataTable > tbody > tr > td { padding: 4px 5px; }
table.dataTable span.dt-column-order { right: 1px !important; width: 10px !important; }
.dt-buttons { margin: 4px 0; }
.dt-buttons button { font-size: .8rem; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
td { white-space: nowrap; }
td[data-col=project_name], td[data-col=notes], td[data-col=observed_value] {
  white-space: normal; min-width: 14em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1b7f3b; font-weight: 600; }
.bad { color: #b42318; font-weight: 600; }
.warn { color: #b54708; }
footer { color: var(--muted); font-size: .85rem; padding: 0 28px 28px; max-width: 1400px;
         margin: 0 auto; }
@media (max-width: 600px) {
  header, nav { padding: 8px 10px; }
  nav { position: static; }
  header h1 { font-size: 1.2rem; }
  main { padding: 4px 6px 24px; }
  section { padding: 10px 8px; }
  .kpis { grid-template-columns: 1fr 1fr; }
  .kpi .value { font-size: 1.25rem; }
  footer { padding: 0 10px 20px; }
}
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { background: #fff; }
  nav, .filters-section, .dt-buttons, .dt-search, .no-print { display: none !important; }
  header { background: #fff; color: var(--ink); padding: 0; }
  main, footer { padding: 0; max-width: none; }
  section { border: none; padding: 0; margin: 8px 0; break-inside: auto; }
  .tablewrap { max-height: none; overflow: visible; }
  table { font-size: 7pt; }
  th { position: static; }
  th, td { padding: 2px 3px !important; white-space: normal; }
  th { overflow-wrap: anywhere; }
  .dt-column-order { display: none !important; }
  td[data-col=project_name], td[data-col=notes], td[data-col=observed_value] { min-width: 0; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  figure.chart { break-inside: avoid; }
}
</style>
<link rel="stylesheet" href="{{ assets }}dataTables.dataTables.min.css">
<link rel="stylesheet" href="{{ assets }}buttons.dataTables.min.css">
<script src="{{ assets }}plotly.min.js"></script>
<script src="{{ assets }}jquery.min.js"></script>
<script src="{{ assets }}dataTables.min.js"></script>
<script src="{{ assets }}dataTables.buttons.min.js"></script>
<script src="{{ assets }}jszip.min.js"></script>
<script src="{{ assets }}buttons.html5.min.js"></script>
<script src="{{ assets }}buttons.print.min.js"></script>
</head>
<body>
<header>
<h1>{% block heading %}{{ L.title }}{% endblock %}</h1>
<p>{{ L.subtitle }}</p>
<p class="version" data-figure="shows_version" data-value="{{ ov.version }}">{{ shows_version }}</p>
</header>
<nav>
{% block nav %}{% endblock %}
<a class="lang" href="{{ other_lang_href }}" hreflang="{{ 'en' if lang == 'zh' else 'zh' }}">{{ L.other_lang }}</a>
</nav>
<main>
{% if filters %}
<section class="filters-section" id="filters">
<h2>{{ L.filters }}</h2>
<div class="filters">
{% for f in filters %}<label>{{ f.label }}
<select data-filter="{{ f.dim }}"><option value="">{{ L.filter_all }}</option>
{% for v, text in f.options %}<option value="{{ v }}">{{ text }}</option>{% endfor %}
</select></label>
{% endfor %}
<button type="button" id="filter-reset">{{ L.filter_reset }}</button>
</div>
<p class="note">{{ L.filter_note }}</p>
</section>
{% endif %}
{% block main %}{% endblock %}
</main>
<footer>
<p>{{ L.source_note }}</p>
<p>{{ L.published_version }}
{{ fig('version', ov.version, 'v' ~ ov.version) }} · {{ L.published_at }} {{ fig('published_at', ov.published_at, ov.published_at_text) }}
· {{ L.gate_run }} {{ fig('gate_run_id', ov.gate_run_id, ov.gate_run_id or '-') }}
· {{ L.generated_at }} {{ generated_at }}</p>
</footer>
{% if activity_json %}<script type="application/json" id="activity-data">{{ activity_json | jsonscript }}</script>{% endif %}
<script type="application/json" id="i18n">{{ i18n_json | jsonscript }}</script>
<script src="{{ assets }}report.js"></script>
</body>
</html>
"""

MACROS = r"""
{% macro fig(name, raw, text) -%}
<span class="figure" data-figure="{{ name }}" data-value="{{ rawv(raw) }}">{{ text }}</span>
{%- endmacro %}

{% macro kpi(label, name, raw, text, delta=None) -%}
<div class="kpi"><div class="label">{{ label }}</div>
<div class="value">{{ fig(name, raw, text) }}</div>
{% if delta is not none %}<div class="delta">{{ delta.label }}:
<span data-delta="{{ name }}" data-value="{{ rawv(delta.raw) }}">{{ delta.text }}</span></div>{% endif %}
</div>
{%- endmacro %}

{% macro chart(c) -%}
<figure class="chart"><figcaption>{{ c.title }}</figcaption>
<div class="plot" id="chart-{{ c.key }}" data-chart="{{ c.key }}"{% if c.drill %} data-drill="{{ c.drill }}"{% endif %}></div>
<script type="application/json" id="spec-{{ c.key }}">{{ c.spec_json | jsonscript }}</script>
</figure>
{%- endmacro %}

{% macro table(t) -%}
{% if t.note %}<p class="note" data-note="{{ t.name }}">{{ t.note }}</p>{% endif %}
{% if t.full_list %}<p class="note" data-full-list="{{ t.name }}">{{ t.full_list }}</p>{% endif %}
{% if t.rows %}
<div class="tablewrap"><table data-table="{{ t.name }}" class="dt{{ ' sortable' if t.sortable else '' }}">
<thead><tr>{% for c in t.cols %}<th class="{{ 'num' if c.numeric else '' }}" data-col="{{ c.key }}" scope="col">{{ c.header }}</th>{% endfor %}</tr></thead>
<tbody>
{% for r in t.rows %}<tr{% if r.key %} data-key="{{ r.key }}"{% endif %}{% for d, v in r.dims.items() %} data-f-{{ d }}="{{ v }}"{% endfor %}{% for a, v in r.attrs.items() %} data-{{ a }}="{{ v }}"{% endfor %}>{% for cell in r.cells %}<td data-col="{{ cell.col }}" data-value="{{ cell.raw }}" data-order="{{ cell.raw }}"{% if cell.numeric %} class="num"{% endif %}>{% if cell.href %}<a href="{{ cell.href }}">{{ cell.text }}</a>{% else %}{{ cell.text }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% else %}<p class="note">{{ L.none }}</p>{% endif %}
{%- endmacro %}
"""

INDEX = r"""{% extends "base.html" %}
{% from "macros.html" import fig, kpi, chart, table with context %}
{% block nav %}
<a href="#overview">{{ L.overview }}</a><a href="#activity">{{ L.activity }}</a>
<a href="#funnel">{{ L.funnel }}</a><a href="#leaderboard">{{ L.leaderboard }}</a>
<a href="#attention">{{ L.attention }}</a><a href="#money">{{ L.money }}</a>
<a href="#durations">{{ L.durations }}</a><a href="#stalled">{{ L.stalled }}</a>
<a href="#failures">{{ L.failures }}</a><a href="#batches">{{ L.batches }}</a>
<a href="#quality">{{ L.quality }}</a>
{% endblock %}
{% block main %}
<section id="overview">
<h2>{{ L.overview }}</h2>
{% if prev %}<p class="note">{{ L.change }}: {{ change_label }}</p>{% else %}<p class="note">{{ L.no_previous }}</p>{% endif %}
<div class="kpis">
{% for k in kpis %}{{ kpi(k.label, k.name, k.raw, k.text, k.delta) }}
{% endfor %}
</div>
<h3>{{ L.reached_stage }}</h3>
{{ table(stage_table) }}
</section>

<section id="activity">
<h2>{{ L.activity }}</h2>
<p class="note">{{ L.activity_note }}</p>
<h3>{{ L.activity_year }}</h3>
{{ table(activity_year) }}
<h3>{{ L.activity_quarter }}</h3>
{{ table(activity_quarter) }}
</section>

<section id="funnel">
<h2>{{ L.funnel }}</h2>
<p class="note">{{ L.funnel_note }} {{ L.drill_note }}</p>
<div class="grid2">{{ chart(charts.funnel_national) }}{{ chart(charts.funnel_by_domain) }}</div>
<h3>{{ L.funnel_national }}</h3>
{{ table(funnel_table) }}
<h3>{{ L.funnel_by_domain }}</h3>
{{ table(domain_table) }}
<h3>{{ L.cohorts }}</h3>
<p class="note" data-note="maturity">{{ maturity_note }}</p>
{{ chart(charts.funnel_by_cohort) }}
{{ table(cohort_table) }}
</section>

<section id="leaderboard">
<h2>{{ L.leaderboard }}</h2>
{{ table(leaderboard) }}
</section>

<section id="attention">
<h2>{{ L.attention }}</h2>
<p class="note">{{ attention_note }}</p>
{{ table(attention_table) }}
</section>

<section id="money">
<h2>{{ L.money }}</h2>
<p class="note">{{ L.money_note }}</p>
<div class="grid2"><div><h3>{{ L.money_by_domain }}</h3>{{ table(money_domain) }}</div>
<div><h3>{{ L.money_by_technology }}</h3>{{ table(money_technology) }}</div></div>
<h3>{{ L.suppliers }}</h3>
{{ table(supplier_table) }}
<h3>{{ L.demand_owners }}</h3>
{{ table(owner_table) }}
</section>

<section id="durations">
<h2>{{ L.durations }}</h2>
<p class="note">{{ L.durations_note }}</p>
{{ chart(charts.durations) }}
{{ table(transition_table) }}
</section>

<section id="stalled">
<h2>{{ L.stalled }}</h2>
<p class="note">{{ stalled_note }}</p>
<h3>{{ L.stalled_rule }}</h3>
<p class="note">{{ L.stalled_rule_note }}</p>
{{ table(stalled_rule_table) }}
{{ chart(charts.stalled_by_city) }}
{{ table(stalled_table) }}
</section>

<section id="failures">
<h2>{{ L.failures }}</h2>
<p class="note">{{ L.failures_note }}</p>
{{ chart(charts.failures_by_stage) }}
<h3>{{ L.reasons_title }}</h3>
<p class="note">{{ L.reasons_note }}</p>
{{ table(reason_table) }}
<h3>{{ L.terminated_projects }}</h3>
{{ table(terminated_table) }}
</section>

<section id="batches">
<h2>{{ L.batches }}</h2>
{% if batch_table.rows %}{{ table(batch_table) }}{% else %}<p class="note" data-figure="opportunity_batches" data-value="0">{{ L.batches_none }}</p>{% endif %}
</section>

<section id="quality">
<h2>{{ L.quality }}</h2>
{% include "quality.html" %}
</section>
{% endblock %}
"""

QUALITY = r"""{% from "macros.html" import fig, table with context %}
<h3>{{ L.last_gate }}</h3>
{% if not quality.available %}
<p data-figure="gate_status" data-value="unavailable" class="warn">{{ L.unavailable }}</p>
<p class="note">{{ quality_reason }}</p>
{% elif not quality.gate %}
<p data-figure="gate_status" data-value="not_run" class="note">{{ L.gate_not_run }}</p>
{% else %}
<p>{{ quality.gate.run_id }} · {{ L.run_at }} {{ gate_run_at }} ·
{% if quality.gate.passed %}<span class="ok" data-figure="gate_status" data-value="passed">{{ L.gate_passed }}</span>
{% else %}<span class="bad" data-figure="gate_status" data-value="failed">{{ L.gate_failed }}</span>{% endif %}
· {{ L.gate_checks }} {{ fig('gate_checks', quality.gate.checks, quality.gate.checks) }}
· {{ L.gate_failures }} {{ fig('gate_failures', quality.gate.failures, quality.gate.failures) }}
· {{ L.gate_warnings }} {{ fig('gate_warnings', quality.gate.warnings, quality.gate.warnings) }}</p>
{% if gate_newer %}<p class="warn">{{ L.gate_newer }}</p>{% endif %}
{{ table(problem_table) }}
{% endif %}
<h3>{{ L.held }}</h3>
{% if quality.available %}
<p class="note">{{ L.held_note }}</p>
{% if held_table.rows %}{{ table(held_table) }}{% else %}<p class="note" data-figure="held_submissions" data-value="0">{{ L.held_none }}</p>{% endif %}
{% else %}<p class="warn">{{ L.unavailable }}</p>{% endif %}
{% if freshness_table is defined %}
<h3>{{ L.freshness }}</h3>
{% if quality.available %}<p class="note">{{ freshness_note }}</p>{{ table(freshness_table) }}
{% else %}<p class="warn">{{ L.unavailable }}</p>{% endif %}
{% endif %}
<h3>{{ L.quarantine }}</h3>
{% if quality.available %}
<p class="note">{{ L.quarantine_note }} {{ L.rows_quarantined }}:
{{ fig('quarantine_total', quality.quarantine_total, fmt_int(quality.quarantine_total)) }}</p>
{% if quarantine_table.rows %}{{ table(quarantine_table) }}{% else %}<p class="note">{{ L.quarantine_none }}</p>{% endif %}
{% else %}<p class="warn">{{ L.unavailable }}</p>{% endif %}
{% if unmapped_table is defined %}<h3>{{ L.unmapped }}</h3>
{% if quality.available %}
<p class="note">{{ L.unmapped_note }}</p>
{% if unmapped_table.rows %}{{ table(unmapped_table) }}{% else %}<p class="note" data-figure="unmapped_values" data-value="0">{{ L.unmapped_none }}</p>{% endif %}
{% else %}<p class="warn">{{ L.unavailable }}</p>{% endif %}{% endif %}
<h3>{{ L.docs }}</h3>
<ul>
<li>{% if data_docs_href %}<a href="{{ data_docs_href }}" data-link="data_docs">{{ L.data_docs }}</a>{% else %}{{ L.data_docs }}: {{ L.not_generated }}{% endif %}</li>
<li>{% if dbt_docs_href %}<a href="{{ dbt_docs_href }}" data-link="dbt_docs">{{ L.dbt_docs }}</a>{% else %}{{ L.dbt_docs }}: {{ L.not_generated }}{% endif %}</li>
</ul>
"""

CITY = r"""{% extends "base.html" %}
{% from "macros.html" import fig, kpi, chart, table with context %}
{% block title %}{{ city_title }} · {{ L.title }}{% endblock %}
{% block heading %}{{ city_title }}{% endblock %}
{% block nav %}
<a href="{{ home_href }}">← {{ L.back }}</a>
<a href="#benchmarks">{{ L.benchmarks }}</a>
<a href="#funnel">{{ L.city_funnel }}</a><a href="#projects">{{ L.city_projects }}</a>
<a href="#quarters">{{ L.by_quarter }}</a>
<a href="#durations">{{ L.city_durations }}</a><a href="#supply">{{ L.supply_demand }}</a>
<a href="#stalled">{{ L.stalled }}</a><a href="#failures">{{ L.failures }}</a>
{% endblock %}
{% block main %}
<section id="overview">
<h2>{{ city_title }}</h2>
<div class="kpis">
{% for k in kpis %}{{ kpi(k.label, k.name, k.raw, k.text, k.delta) }}
{% endfor %}
</div>
</section>
<section id="benchmarks">
<h2>{{ L.benchmarks }}</h2>
<p class="note">{{ benchmark_note }}</p>
{{ table(benchmark_table) }}
</section>
<section id="funnel">
<h2>{{ L.city_funnel }}</h2>
<p class="note">{{ L.funnel_note }} {{ L.city_projects_note }}</p>
{{ chart(charts.city_funnel) }}
{{ table(funnel_table) }}
</section>
<section id="projects">
<h2>{{ L.city_projects }}</h2>
<p class="no-print"><button type="button" id="filter-reset">{{ L.filter_reset }}</button></p>
{{ table(project_table) }}
</section>
<section id="quarters">
<h2>{{ L.by_quarter }}</h2>
{{ chart(charts.city_quarterly) }}
{{ table(quarter_table) }}
</section>
<section id="durations">
<h2>{{ L.city_durations }}</h2>
<p class="note">{{ L.durations_note }}</p>
{{ chart(charts.city_durations) }}
</section>
<section id="supply">
<h2>{{ L.supply_demand }}</h2>
{{ chart(charts.supply_demand) }}
{{ table(supply_table) }}
</section>
<section id="stalled">
<h2>{{ L.stalled }}</h2>
<p class="note">{{ stalled_note }}</p>
{{ table(stalled_table) }}
</section>
<section id="failures">
<h2>{{ L.failures }}</h2>
<p class="note">{{ L.failures_note }}</p>
{{ table(terminated_table) }}
</section>
<section id="quality">
<h2>{{ L.quality }}</h2>
<p>{{ L.rows_quarantined }}:
{% if quality.available %}{{ fig('city_rows_quarantined', city_quarantined, fmt_int(city_quarantined)) }}
{% else %}<span data-figure="city_rows_quarantined" data-value="">{{ L.unavailable }}</span>{% endif %}</p>
</section>
{% endblock %}
"""

TEMPLATES = {
    "macros.html": MACROS,
    "base.html": BASE,
    "index.html": INDEX,
    "city.html": CITY,
    "quality.html": QUALITY,
}
