"""Every word the evaluator report shows, in Chinese and English, and how numbers are written.

Names of cities, domains and technologies come from the published dimensions (``dim_city``,
``dim_domain``, ``dim_technology``), never from here.
"""

from __future__ import annotations

import math
from decimal import Decimal

LANGS = ("zh", "en")

STAGES = ("opportunity", "validation", "application", "scale_up")

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("场景创新跟踪评估报告", "Scene innovation tracking and evaluation report"),
    "subtitle": (
        "场景项目从机会发布到规模化应用的全生命周期",
        "Scene projects from published opportunity to application at scale",
    ),
    "other_lang": ("English", "中文"),
    "home": ("全国总览", "National overview"),
    "published_version": ("发布版本", "Published version"),
    "published_at": ("发布时间", "Published at"),
    "gate_run": ("质量闸门运行", "Quality gate run"),
    "source_note": (
        "本报告中的全部数字均来自已发布的数据集市（只读），未经重新计算。",
        "Every figure in this report comes from the published marts (read-only), never recomputed.",
    ),
    # national overview
    "overview": ("全国总览", "National overview"),
    "cities_active": ("开展场景创新的城市", "Cities active"),
    "projects_total": ("场景项目总数", "Scene projects"),
    "cooperation_amount_yi": ("合作金额（亿元）", "Cooperation amount (亿元, 100 million yuan)"),
    "projects_stalled": ("停滞项目", "Stalled projects"),
    "projects_failed": ("验证失败", "Failed"),
    "projects_withdrawn": ("撤回", "Withdrawn"),
    "change": ("较上一版本", "Change against the previous publish"),
    "change_vs": ("较 v{v}", "vs v{v}"),
    "no_previous": (
        "尚无可比较的上一发布版本。",
        "No previous published version to compare with.",
    ),
    "reached_stage": ("到达该阶段的项目", "Projects that reached the stage"),
    "current_active": ("当前处于该阶段（在推进）", "Currently in the stage (active)"),
    "stage": ("阶段", "Stage"),
    # funnel
    "funnel": ("转化漏斗", "The funnel"),
    "funnel_national": ("全国漏斗", "National funnel"),
    "funnel_by_domain": ("分领域漏斗", "Funnel by domain"),
    "funnel_by_cohort": (
        "按机会发布季度（批次）的项目进展",
        "Progress by cohort (quarter the opportunity was published)",
    ),
    "funnel_note": (
        "失败或撤回的项目计入其所在阶段（容错），不计入从未进入的阶段。",
        "Failed or withdrawn projects count at the stage they reached (容错), never against "
        "a stage they did not enter.",
    ),
    "projects_reached": ("到达项目数", "Projects reached"),
    "conversion_from_previous_stage": ("较上一阶段转化率", "Conversion from previous stage"),
    "conversion_from_opportunity": ("较机会阶段转化率", "Conversion from opportunity"),
    "domain": ("应用领域", "Domain"),
    "technology": ("技术领域", "Technology"),
    "cohort_quarter": ("批次季度", "Cohort quarter"),
    # leaderboard
    "leaderboard": ("城市排行", "City leaderboard"),
    "leaderboard_note": (
        "全部时期；点击表头排序。转化率 = 到达下一阶段的项目 / 到达本阶段的项目；天数为中位数。",
        "All periods; click a column header to sort. Conversion = projects reaching the next "
        "stage over those reaching this one; days are medians.",
    ),
    "city": ("城市", "City"),
    "region": ("区域", "Region"),
    "opportunities_published": ("发布机会", "Opportunities"),
    "capabilities_published": ("发布能力", "Capabilities"),
    "projects_reached_validation": ("进入验证", "Reached validation"),
    "projects_reached_application": ("进入应用", "Reached application"),
    "projects_reached_scale_up": ("规模化", "Reached scale-up"),
    "conversion_opportunity_to_validation": ("机会→验证", "Opportunity → validation"),
    "conversion_validation_to_application": ("验证→应用", "Validation → application"),
    "conversion_application_to_scale_up": ("应用→推广", "Application → scale-up"),
    "median_days_opportunity_to_validation": ("机会→验证（天）", "Opportunity → validation (days)"),
    "median_days_validation_to_application": ("验证→应用（天）", "Validation → application (days)"),
    "median_days_application_to_scale_up": ("应用→推广（天）", "Application → scale-up (days)"),
    "p90_days_opportunity_to_validation": ("机会→验证 P90（天）", "Opp. → validation P90 (days)"),
    "p90_days_validation_to_application": ("验证→应用 P90（天）", "Validation → app. P90 (days)"),
    "p90_days_application_to_scale_up": ("应用→推广 P90（天）", "App. → scale-up P90 (days)"),
    # durations
    "durations": ("阶段耗时分布", "Stage-duration distributions"),
    "durations_note": (
        "每个项目从进入一个阶段到进入下一阶段所用的天数（fct_stage_transitions.days_taken）。",
        "Days each project took from entering one stage to entering the next "
        "(fct_stage_transitions.days_taken).",
    ),
    "transition": ("阶段转换", "Transition"),
    "transitions": ("转换次数", "Transitions"),
    "days_taken": ("耗时（天）", "Days taken"),
    "min_days": ("最短（天）", "Min (days)"),
    "max_days": ("最长（天）", "Max (days)"),
    "skipped_stages": ("跨越阶段", "Skipped stages"),
    # stalled
    "stalled": ("停滞项目观察清单", "Stalled-projects watchlist"),
    "stalled_note": (
        "在当前阶段停留超过该阶段阈值的在推进项目，截至参考日期 {d}。",
        "Active projects in their current stage longer than that stage's threshold, as of "
        "the reference date {d}.",
    ),
    "stalled_by_city": ("各城市停滞项目（按阶段）", "Stalled projects by city and stage"),
    "showing_n_of": (
        "显示逾期最久的 {n} 个，共 {total} 个。",
        "Showing the {n} most overdue of {total}.",
    ),
    "project": ("项目", "Project"),
    "project_key": ("项目编号", "Project key"),
    "demand_owner": ("需求方", "Demand owner"),
    "supplier": ("承接企业", "Supplier"),
    "current_stage": ("当前阶段", "Current stage"),
    "current_stage_entered_on": ("进入日期", "Entered on"),
    "days_in_current_stage": ("停留天数", "Days in stage"),
    "stalled_after_days": ("阈值（天）", "Threshold (days)"),
    "days_overdue": ("超出天数", "Days overdue"),
    # failures
    "failures": ("失败与撤回（容错）", "Failures and withdrawals (容错)"),
    "failures_note": (
        "按照容错激励机制，失败与撤回的项目单独记录、不被抹去。",
        "Under fault tolerance (容错激励) a failure is recorded, not erased: failed and "
        "withdrawn projects are shown apart.",
    ),
    "failures_by_stage": ("按阶段统计失败与撤回", "Failures and withdrawals by stage"),
    "projects_failed_here": ("失败", "Failed"),
    "projects_withdrawn_here": ("撤回", "Withdrawn"),
    "terminated_projects": ("已终止项目", "Terminated projects"),
    "terminated_on": ("终止日期", "Ended on"),
    "status": ("状态", "Status"),
    "status_terminated_failed": ("验证失败", "Failed"),
    "status_terminated_withdrawn": ("撤回", "Withdrawn"),
    "status_active": ("在推进", "Active"),
    "latest_n_of": ("显示最近的 {n} 个，共 {total} 个。", "Showing the latest {n} of {total}."),
    "full_list": (
        "完整清单：已发布数据表 {table}（BI 工具可直接查询）、其 Parquet 副本 {parquet}，"
        "或用 {export} 导出。",
        "The full list: the published table {table} (what BI tools read), its Parquet copy "
        "{parquet}, or {export}.",
    ),
    "none": ("无", "None"),
    # data quality
    "quality": ("数据质量", "Data quality"),
    "last_gate": ("最近一次质量闸门", "Last quality gate"),
    "gate_passed": ("通过", "passed"),
    "gate_failed": ("未通过（未发布）", "FAILED (nothing published)"),
    "gate_checks": ("检查项", "Checks"),
    "gate_failures": ("阻断性失败", "Blocking failures"),
    "gate_warnings": ("警告", "Warnings"),
    "run_at": ("运行时间", "Run at"),
    "unavailable": ("暂不可用", "unavailable"),
    "quality_unavailable": (
        "工作库正被写入或尚不存在，数据质量信息暂不可用：{reason}",
        "The work database is being written or does not exist, so data-quality details are "
        "unavailable: {reason}",
    ),
    "gate_not_run": ("尚未运行质量闸门。", "The quality gate has not run yet."),
    "gate_newer": (
        "注意：最近一次闸门运行晚于当前发布版本所依据的运行。",
        "Note: the last gate run is newer than the run the published version passed.",
    ),
    "severity": ("级别", "Severity"),
    "suite": ("检查集", "Suite"),
    "expectation": ("规则", "Expectation"),
    "column": ("字段", "Column"),
    "observed": ("观测值", "Observed"),
    "why": ("原因", "Why"),
    "held": ("暂缓发布的报送", "Submissions held back"),
    "held_note": (
        "某城市的报送未通过质量闸门时，仅暂缓该城市最新的报送（数据保留在原始层），其他城市照常发布；"
        "城市更正后由运维人员释放（scenetrack release）。",
        "When a city's submission fails the quality gate, only that city's newest submissions "
        "are held back (their rows stay in the raw layer) and every other city publishes; the "
        "operator releases them once the city has corrected them (scenetrack release).",
    ),
    "held_none": ("没有暂缓发布的报送。", "No submission is held back."),
    "held_at": ("暂缓时间", "Held since"),
    "file": ("文件", "File"),
    "quarantine": ("各城市隔离行数", "Quarantined rows per city"),
    "quarantine_note": (
        "无法读取的行进入隔离区（raw.quarantine），按其所在文件的城市归属统计。",
        "Rows that could not be read are quarantined (raw.quarantine), attributed to the city "
        "of the file they came from.",
    ),
    "rows_quarantined": ("隔离行数", "Rows quarantined"),
    "files": ("文件数", "Files"),
    "quarantine_none": ("没有被隔离的行。", "No quarantined rows."),
    "unattributed": (
        "无法归属（多城市或无有效行的文件）",
        "Unattributed (multi-city or empty files)",
    ),
    "unmapped": (
        "未归类的领域与技术用语（按城市）",
        "Unclassified domain and technology wordings, per city",
    ),
    "unmapped_note": (
        "城市填写的领域或技术用语若不在别名表中，按“未分类”入库（不丢行）；"
        "在 dbt_project/seeds/value_aliases.csv 增加别名后，下次运行即重新归类。",
        "A domain or technology wording no alias knows is loaded as unclassified (the row is "
        "kept); once an alias is added to dbt_project/seeds/value_aliases.csv, the next run "
        "classifies it.",
    ),
    "unmapped_none": (
        "所有领域与技术用语均已归类。",
        "Every domain and technology wording is classified.",
    ),
    "wording": ("用语（原文）", "Wording (as written)"),
    "rows": ("行数", "Rows"),
    "batches": ("场景机会清单批次", "Opportunity-list batches"),
    "batches_note": (
        "各城市按批次发布的场景机会清单（第二批、2025年第2批）及其后续进展；预计投资为清单所列金额，"
        "与合作金额分列。",
        "Each batch of a city's published opportunity list (第二批, 2025年第2批) and how its "
        "opportunities fared; planned investment is what the list stated, kept apart from the "
        "cooperation amount.",
    ),
    "batches_none": ("尚无按批次发布的场景机会清单。", "No opportunity list with a batch yet."),
    "batch": ("批次", "Batch"),
    "published_on": ("发布日期", "Published"),
    "planned_investment_yi": ("预计投资(亿元)", "Planned investment (亿元)"),
    "data_docs": ("Great Expectations 数据文档", "Great Expectations Data Docs"),
    "dbt_docs": ("dbt 数据字典（模型与字段说明）", "dbt docs (models and column descriptions)"),
    "not_generated": ("尚未生成", "not generated yet"),
    "docs": ("文档", "Documentation"),
    # city page
    "city_page": ("城市页面", "City page"),
    "back": ("返回全国总览", "Back to the national overview"),
    "city_funnel": ("城市漏斗", "City funnel"),
    "by_quarter": ("按季度（机会发布批次）", "By quarter (opportunity cohort)"),
    "period_label": ("季度", "Quarter"),
    "supply_demand": ("供需对接（按技术领域）", "Supply and demand by technology"),
    "opportunities_matched": ("已匹配机会", "Opportunities matched"),
    "share_opportunities_matched": ("匹配率", "Share matched"),
    "capabilities_per_opportunity": ("能力/机会", "Capabilities per opportunity"),
    "city_durations": ("本市阶段耗时分布", "Stage durations in this city"),
    "generated_at": ("报告生成时间", "Report generated at"),
    "stage_opportunity": ("场景机会", "Opportunity"),
    "stage_validation": ("场景验证", "Validation"),
    "stage_application": ("产业应用", "Application"),
    "stage_scale_up": ("规模化推广", "Scale-up"),
    "region_east": ("东部", "East"),
    "region_central": ("中部", "Central"),
    "region_west": ("西部", "West"),
    "region_northeast": ("东北", "Northeast"),
    "unknown": ("未知", "Unknown"),
    # the version shown, the as-of date
    "shows_version": (
        "本报告显示已发布版本 v{v}（{at} 发布，数据截至 {d}）",
        "This report shows published version v{v} (published {at}; data as of {d})",
    ),
    # filters
    "filters": ("筛选", "Filters"),
    "filter_all": ("全部", "All"),
    "filter_reset": ("清除筛选", "Clear filters"),
    "filter_note": (
        "筛选作用于本页每个带有该维度的表格和阶段活动；链接（地址栏）保留筛选，可直接分享。"
        "总览指标为全国口径。",
        "Filters apply to every table of this page whose rows carry the dimension, and to the "
        "activity view; the link (address bar) keeps them and can be shared. The headline "
        "figures are all-China.",
    ),
    "dim_region": ("区域", "Region"),
    "dim_province_zh": ("省份", "Province"),
    "dim_domain_code": ("应用领域", "Domain"),
    "dim_technology_code": ("技术领域", "Technology"),
    "dim_year": ("年份", "Year"),
    "dim_batch_code": ("清单批次", "List batch"),
    "no_batch": ("无批次", "no batch"),
    "dim_stage": ("阶段", "Stage"),
    # activity view
    "activity": ("阶段活动（按期间）", "Activity by period"),
    "activity_note": (
        "活动口径：某期间内进入各阶段的项目数（不论其机会何时发布），与上方按机会发布批次统计的"
        "队列口径并列。数据来自 mart_stage_activity。",
        "Activity view: projects that entered each stage in the period, whenever their "
        "opportunity was published, beside the cohort view above. From mart_stage_activity.",
    ),
    "activity_year": ("按年", "By year"),
    "activity_quarter": ("按季度", "By quarter"),
    "period": ("期间", "Period"),
    "entered_opportunity": ("发布机会", "Opportunities published"),
    "entered_validation": ("进入验证", "Entered validation"),
    "entered_application": ("进入应用", "Entered application"),
    "entered_scale_up": ("进入推广", "Entered scale-up"),
    "application_change_previous": ("应用：较上期", "Applications vs previous period"),
    "application_change_year": ("应用：较上年同期", "Applications vs a year before"),
    "amount_signed_yi": ("本期签约金额（亿元）", "Signed in the period (亿元)"),
    # cohorts and their maturity
    "cohorts": ("按机会发布季度（队列）", "By cohort (quarter the opportunity was published)"),
    "too_early": ("尚早", "too early"),
    "maturity_note": (
        "队列成熟规则：某季度发布的机会，须在该季度结束后经过“发布到该阶段”的全国第 90 百分位"
        "天数（验证 {validation} 天、应用 {application} 天、推广 {scale_up} 天），"
        "其转化率才可评判；此前标为“尚早”。",
        "Maturity rule: a cohort's conversion into a stage is judged only once the 90th "
        "percentile of days from publication to that stage (nationally: validation "
        "{validation}, application {application}, scale-up {scale_up} days) has passed since "
        "the cohort's quarter ended; until then it is marked “too early”.",
    ),
    # benchmarks
    "benchmarks": ("对标", "Benchmarks"),
    "benchmark_note": (
        "排名只计入相应分母不少于 {n} 个项目的城市（SCENETRACK_RANK_MIN_PROJECTS）；中位数为这些"
        "城市取值的中位数。转化率越高越好，天数越少越好。",
        "Only cities with at least {n} projects in the measure's denominator are ranked "
        "(SCENETRACK_RANK_MIN_PROJECTS); medians are over those cities. Higher rates and fewer "
        "days rank first.",
    ),
    "measure": ("指标", "Measure"),
    "city_value": ("本市", "This city"),
    "rank": ("排名", "Rank"),
    "ranked_cities": ("参与排名城市", "Cities ranked"),
    "national_median": ("全国中位数", "National median"),
    "regional_median": ("本区域中位数", "Regional median"),
    "not_ranked": ("样本不足", "too few projects"),
    "denominator": ("样本（项目）", "Sample (projects)"),
    "leaderboard_min_note": (
        "“排名”按验证→应用转化率，仅计入进入验证的项目不少于 {n} 个的城市。",
        "“Rank” orders validation → application among cities with at least {n} projects "
        "in validation.",
    ),
    # attention
    "attention": ("需要关注", "Needs attention"),
    "attention_note": (
        "有停滞项目、超过 {days} 天未报送（截至 {d}）、或从未发布能力清单的城市。",
        "Cities with stalled projects, no report for more than {days} days (as of {d}), or "
        "no capability ever listed.",
    ),
    "reasons": ("原因", "Reasons"),
    "reason_stalled": ("有停滞项目", "stalled projects"),
    "reason_silent": ("长期未报送", "not reporting"),
    "reason_no_capabilities": ("无能力清单", "no capabilities"),
    "last_reported_on": ("最近报送", "Last report"),
    "days_silent": ("未报送天数", "Days since"),
    "freshness": ("各城市最近报送", "Last report per city"),
    "freshness_note": (
        "截至 {d}；超过 {days} 天未报送即为“未更新”（与质量闸门的新鲜度检查同一规则）。",
        "As of {d}; more than {days} days without a report is “stale” (the quality gate's "
        "freshness rule).",
    ),
    "fresh": ("已更新", "fresh"),
    "stale": ("未更新", "stale"),
    "status_fresh": ("状态", "Status"),
    # money and suppliers
    "money": ("资金", "Money"),
    "money_note": (
        "合作金额按项目进入应用（签约）的年份统计；预计投资为机会清单所列金额，按机会发布年份统计，"
        "两者分列、不相加。各批次的预计投资与签约金额见“场景机会清单批次”。",
        "Cooperation amounts by the year the projects reached application (signed); planned "
        "investment is what the opportunity lists stated, by the year the opportunities were "
        "published, kept apart (never added). Each batch's planned and signed money: see "
        "“Opportunity-list batches”.",
    ),
    "money_by_domain": ("按领域", "By domain"),
    "money_by_technology": ("按技术", "By technology"),
    "year": ("年份", "Year"),
    "projects_signed": ("签约项目", "Projects signed"),
    "suppliers": ("承接企业（按进入应用的项目数）", "Suppliers (by projects reaching application)"),
    "projects": ("项目", "Projects"),
    "demand_owners": (
        "需求方（按进入应用的项目数）",
        "Demand owners (by projects reaching application)",
    ),
    "cities_count": ("城市数", "Cities"),
    # stalled rule
    "stalled_rule": ("停滞规则（按阶段）", "The stalled rule, per stage"),
    "stalled_rule_note": (
        "在推进项目在当前阶段停留超过阈值即为停滞；推广阶段是目标，不会停滞。阈值旁为全国该阶段"
        "耗时的第 90 百分位，供判断阈值是否合理。应用阶段的“停滞”指已落地但一年内未推广。",
        "An active project is stalled when it stays in its stage longer than the threshold; "
        "scale-up is the goal and never stalls. Beside each threshold: the 90th percentile of "
        "days projects took to leave that stage, nationally. “Stalled” in application means "
        "deployed but not scaled up within a year.",
    ),
    "threshold": ("阈值（天）", "Threshold (days)"),
    "p90_days": ("离开该阶段用时 P90（天）", "P90 days to leave the stage"),
    # city projects
    "city_projects": ("本市项目", "Projects of this city"),
    "city_projects_note": (
        "点击漏斗中的阶段可只显示到达该阶段的项目。",
        "Click a stage of the funnel to show only the projects that reached it.",
    ),
    "reached_stages": ("已到达阶段", "Stages reached"),
    "drill_note": (
        "点击漏斗中的阶段：城市排行按到达该阶段的项目数排序，点城市可看其项目。",
        "Click a stage of the funnel: the leaderboard orders cities by the projects that "
        "reached it; a city leads to its projects.",
    ),
    "reasons_title": ("终止原因", "Why projects ended"),
    "reasons_note": (
        "按城市填报的终止原因（台账“终止原因”）归类；原文见下表与 mart_terminations。",
        "Grouped from the reason each city wrote (the ledger's 终止原因); the words are in the "
        "list below and in mart_terminations.",
    ),
    "reason_text": ("终止原因", "Reason"),
    "reason_group": ("原因类别", "Reason group"),
    "reason_group_funding": ("资金问题", "Funding"),
    "reason_group_policy": ("政策与审批", "Policy or approval"),
    "reason_group_demand": ("需求变化", "Demand changed"),
    "reason_group_supplier": ("企业退出", "Supplier withdrew"),
    "reason_group_technical": ("技术或验证未达标", "Technology or pilot fell short"),
    "reason_group_other": ("其他", "Other"),
    "reason_group_unstated": ("未填写原因", "No reason given"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "print": ("打印", "Print"),
    "severity_error": ("阻断", "error"),
    "severity_warn": ("警告", "warning"),
    "suite_stg_raw__events": ("暂存事件", "Staged events"),
    "suite_fct_project_lifecycle": ("项目生命周期", "Project lifecycle"),
    "suite_fct_stage_transitions": ("阶段转换", "Stage transitions"),
    "suite_mart_city_scorecard": ("城市记分卡", "City scorecard"),
    "suite_mart_stage_funnel": ("阶段漏斗", "Stage funnel"),
    "suite_mart_stalled_projects": ("停滞项目", "Stalled projects"),
    "suite_mart_supply_demand": ("供需对接", "Supply and demand"),
    "suite_dim_city": ("城市维表", "City reference"),
    "suite_scorecard_reconciliation": ("记分卡核对", "Scorecard reconciliation"),
    "suite_source_freshness": (
        "报送新鲜度：超过 90 天未报送的城市",
        "Freshness: cities without a report for 90 days",
    ),
}


# Column headers of exports for people (scenetrack export --labels): the marts' columns the
# report's own words above do not name.
_COLUMNS: dict[str, tuple[str, str]] = {
    "city_code": ("城市代码", "City code"),
    "city_name_zh": ("城市", "City (Chinese)"),
    "city_name_en": ("城市（英文）", "City"),
    "name_zh": ("中文名称", "Name (Chinese)"),
    "name_en": ("英文名称", "Name (English)"),
    "province_zh": ("省份", "Province (Chinese)"),
    "province_en": ("省份（英文）", "Province"),
    "project_id": ("城市项目编号", "City's project number"),
    "project_name": ("项目名称", "Project name"),
    "domain_code": ("应用领域", "Domain"),
    "technology_code": ("技术领域", "Technology"),
    "stage_code": ("阶段", "Stage"),
    "stage_order": ("阶段序号", "Stage order"),
    "opportunity_entered_on": ("机会发布日期", "Opportunity published on"),
    "validation_entered_on": ("进入验证日期", "Validation started on"),
    "application_entered_on": ("进入应用日期", "Application started on"),
    "scale_up_entered_on": ("进入推广日期", "Scale-up started on"),
    "cooperation_amount_yuan": ("合作金额（元）", "Cooperation amount (yuan)"),
    # the published lists (场景机会清单): batch, planned investment, the words as written
    "batch_code": ("清单批次", "List batch"),
    "opportunity_batch": ("清单批次", "List batch"),
    "first_published_on": ("首次发布日期", "First published on"),
    "planned_investment_yuan": ("预计投资（元）", "Planned investment (yuan)"),
    "planned_investment_is_approximate": ("预计投资为约数", "Planned investment approximate"),
    "opportunities_with_planned_investment": (
        "列明预计投资的机会数",
        "Opportunities with planned investment",
    ),
    "opportunities_with_approximate_investment": (
        "预计投资为约数的机会数",
        "Opportunities with approximate investment",
    ),
    "domain_text": ("应用领域（原文）", "Domain (as written)"),
    "technology_text": ("技术领域（原文）", "Technology (as written)"),
    "project_technology_key": ("项目技术编号", "Project technology key"),
    "technology_position": ("技术序位", "Technology position"),
    "is_primary": ("是否主要技术", "Primary technology"),
    # audit columns: which load and dbt run last wrote the row
    "last_load_id": ("最近装载编号", "Last load number"),
    "dbt_run_seq": ("dbt 运行序号", "dbt run number"),
    "dbt_updated_at": ("dbt 更新时间", "dbt updated at"),
    "capabilities_load_id": ("能力清单装载编号", "Capability load number"),
    "cohort_year": ("队列年份", "Cohort year"),
    "cohort_date": ("队列日期", "Cohort date"),
    "days_opportunity_to_validation": ("机会→验证（天）", "Opportunity → validation (days)"),
    "days_validation_to_application": ("验证→应用（天）", "Validation → application (days)"),
    "days_application_to_scale_up": ("应用→推广（天）", "Application → scale-up (days)"),
    "is_stalled": ("是否停滞", "Stalled"),
    "has_skipped_stage": ("跨越阶段", "Skipped a stage"),
    "has_moved_backwards": ("阶段回退", "Moved backwards"),
    "has_stage_date_regression": ("阶段日期倒置", "Stage dates out of order"),
    "has_corrected_report": ("有更正报送", "Corrected report"),
    "missing_opportunity": ("无机会发布", "No published opportunity"),
    "reference_date": ("参考日期", "As of"),
    "period_type": ("期间类型", "Period type"),
    "period_start": ("期间起始", "Period start"),
    "breakdown": ("分组维度", "Breakdown"),
    "breakdown_value": ("分组取值", "Breakdown value"),
    "projects_entered": ("进入项目数", "Projects entered"),
    "from_stage": ("起始阶段", "From stage"),
    "to_stage": ("到达阶段", "To stage"),
    "from_entered_on": ("进入起始阶段日期", "Entered the from stage on"),
    "to_entered_on": ("进入到达阶段日期", "Entered the to stage on"),
    "transition_key": ("转换编号", "Transition key"),
    "region_code": ("区域代码", "Region code"),
    "status_code": ("状态代码", "Status code"),
}


def column_words(lang: str) -> dict[str, str]:
    """Header words of the marts' columns the report's labels do not name."""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    i = LANGS.index(lang)
    return {k: v[i] for k, v in _COLUMNS.items()}


def labels(lang: str) -> dict[str, str]:
    """All labels of one language as a dict (what the templates read as ``L``)."""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    i = LANGS.index(lang)
    return {k: v[i] for k, v in _TEXT.items()}


def stage_label(stage: str | None, lang: str) -> str:
    """The stage's name in ``lang`` (the code itself if unknown)."""
    if stage is None:
        return "-"
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    text = _TEXT.get(f"stage_{stage}")  # one lookup: labels() builds the whole dict per call
    return stage if text is None else text[LANGS.index(lang)]


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_int(v: object) -> str:
    """1,234 (``-`` when missing)."""
    return "-" if _is_missing(v) else f"{int(v):,}"


def fmt_num(v: object, digits: int = 2) -> str:
    """1,234.57 (``-`` when missing)."""
    return "-" if _is_missing(v) else f"{float(v):,.{digits}f}"


def fmt_pct(v: object) -> str:
    """75.5% (``-`` when missing: a conversion over nothing)."""
    return "-" if _is_missing(v) else f"{float(v) * 100:.1f}%"


def fmt_days(v: object) -> str:
    """Median or p90 days, one decimal at most (``-`` when missing)."""
    if _is_missing(v):
        return "-"
    f = float(v)
    return f"{f:,.0f}" if f == int(f) else f"{f:,.1f}"


def fmt_signed(v: object, digits: int = 0) -> str:
    """+3, −1.20 (a real minus sign), ±0."""
    if _is_missing(v):
        return "-"
    f = float(v)
    if round(f, digits) == 0:
        return "±0"
    body = f"{abs(f):,.{digits}f}"
    return ("+" if f > 0 else "−") + body


def raw_value(v: object) -> str:
    """The exact value behind a formatted figure, for ``data-value`` attributes and sorting."""
    if _is_missing(v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | Decimal):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)
