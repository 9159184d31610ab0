#!/usr/bin/env bash
# The field's checks on the dbt project, each blocking (issue 19):
#   1. sqlfluff with the dbt templater over every model (.sqlfluff);
#   2. dbt-bouncer's best-practice checks at error level (dbt-bouncer.yml);
#   3. dbt-score, project score >= 9.5 ([tool.dbt-score] in pyproject.toml).
# No warehouse is needed: `dbt parse` writes the manifest dbt-bouncer and dbt-score read, and
# the templater compiles against a throwaway DuckDB file. The profile reads every value from
# the environment (dbt_project/profiles.yml, as scenetrack/transform.py::dbt_env sets it for
# real runs): the DuckDB output is pointed at that throwaway file here.
#
# Usage: scripts/dbt_checks.sh [sqlfluff|bouncer|score ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/scenetrack-dbt-checks.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export SCENETRACK_WORK_DB="$scratch/work.duckdb"
export SCENETRACK_DBT_TARGET=duckdb
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1
# sqlfluff's dbt templater writes dbt's logs and target under the project unless told
export DBT_LOG_PATH="$scratch/logs"
checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(sqlfluff bouncer score)

parse() {
    # the manifest both manifest readers take (dbt-bouncer.yml: dbt_artifacts_dir)
    "$BIN/dbt" parse --quiet --project-dir dbt_project --profiles-dir dbt_project \
        --target-path target --log-path "$scratch/logs"
}

for check in "${checks[@]}"; do
    case "$check" in
        sqlfluff)
            echo "== sqlfluff (dbt templater) over dbt_project/models"
            # the stage list is read from the lifecycle_stages seed when a model compiles
            # (macros/lifecycle.sql): load it into the throwaway database first
            "$BIN/dbt" seed --quiet --select lifecycle_stages --project-dir dbt_project \
                --profiles-dir dbt_project --target-path "$scratch/target" --log-path "$scratch/logs"
            "$BIN/sqlfluff" lint dbt_project/models --processes 2 --disable-progress-bar ;;
        bouncer)
            echo "== dbt-bouncer (dbt-bouncer.yml)"
            [ -n "${parsed:-}" ] || { parse; parsed=1; }
            "$BIN/dbt-bouncer" run --config-file dbt-bouncer.yml ;;
        score)
            echo "== dbt-score (pyproject.toml [tool.dbt-score])"
            [ -n "${parsed:-}" ] || { parse; parsed=1; }
            "$BIN/dbt-score" lint --manifest dbt_project/target/manifest.json ;;
        *)
            echo "unknown check: $check (sqlfluff, bouncer, score)" >&2
            exit 2 ;;
    esac
done
