"""Mutation testing of the modules where a silent change costs the most (``make mutation``).

For every target of ``benchmarks/mutation.toml``:

1. **mutmut 3** mutates the module's functions (operators, constants, calls) in a scratch copy
   of the checkout and runs the target's fast tests against each mutant (mutmut runs only the
   tests that reach the mutated function).
2. With ``sql = true``, a **substitution pass** mutates what mutmut cannot reach: the text of
   the module's string literals, where the SQL and the regular expressions live (comparisons,
   ``and``/``or``, ``is null``, numbers, regex anchors and quantifiers, quoted SQL values),
   one substitution per mutant, each checked by running the target's tests.

A mutant the tests pass on *survived*; the score of a module is killed / (all - equivalent),
where ``[equivalent]`` in the TOML names the mutants that change nothing observable, with why.
The full pass writes ``benchmarks/MUTATION.md`` and ``benchmarks/results/mutation.json``
(a full pass over some modules, ``--only``/``--dbt``, replaces their rows and keeps the rest);
``--sample N`` checks a fixed random subset of N mutants per module (what CI runs, a few
minutes) and ``--check`` exits 1 when a module (or the sample) scores below the target.

3. **dbt unit tests** stand for the lifecycle rules of the models: each ``[[dbt_mutant]]``
   changes one comparison of a rule (stage order, latest report wins, the stalled threshold, a
   conversion's denominator) and must make a dbt unit test fail.

    python -m benchmarks.mutation [--sample N] [--only MODULE] [--dbt] [--check] [--keep]
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).with_name("mutation.toml")
REPORT = Path(__file__).with_name("MUTATION.md")
RESULTS = Path(__file__).parent / "results" / "mutation.json"
PACKAGES = ("ingestion", "scenetrack")
ALSO_COPY = ("dbt_project", "expectations", "dags", "docs")
MUTANT_TIMEOUT_S = 300


@dataclass
class Outcome:
    """What happened to the mutants of one target (one tool: mutmut or the SQL pass)."""

    module: str
    tool: str
    total: int = 0
    killed: int = 0
    equivalent: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sampled_from: int = 0  # with --sample: how many mutants the sample was drawn from
    run_on: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))

    @property
    def score(self) -> float:
        counted = self.total - len(self.equivalent)
        return self.killed / counted if counted else 1.0


def load_config(path: Path = CONFIG) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def scratch_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) copied to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = Path(raw.decode())
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def mutant_globs(module: str, functions: list[str] | None) -> list[str]:
    """mutmut's names for the mutants of ``functions`` (``Class.method`` or ``Class.*``)."""
    dotted = _dotted(module)
    if not functions:
        return [f"{dotted}.*"]
    globs = []
    for f in functions:
        if "." in f:
            cls, meth = f.split(".", 1)
            globs.append(f"{dotted}.xǁ{cls}ǁ{meth}__mutmut_*")
        else:
            globs.append(f"{dotted}.x_{f}__mutmut_*")
    return globs


def _setup_cfg(target: dict) -> str:
    lines = ["[mutmut]", "source_paths="]
    lines += [f"    {p}" for p in PACKAGES]
    lines += ["only_mutate=", f"    {target['module']}"]
    lines += ["pytest_add_cli_args_test_selection="] + [f"    {t}" for t in target["tests"]]
    lines += ["pytest_add_cli_args=", "    -p", "    no:cacheprovider", "    -q"]
    lines += ["also_copy="] + [f"    {p}" for p in ALSO_COPY]
    return "\n".join(lines) + "\n"


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=work, capture_output=True, text=True)


def _statuses(work: Path) -> dict[str, str]:
    out = _mutmut(work, "results", "--all", "true").stdout
    return dict(
        (m.group(1), m.group(2))
        for m in re.finditer(r"^\s*(\S+__mutmut_\d+): (.+)$", out, flags=re.M)
    )


def case_only(work: Path, name: str) -> bool:
    """Whether mutant ``name`` only changes the letter case of text (``mutmut show``): in a
    module whose strings are SQL and DuckDB parameter names, that changes nothing."""
    diff = _mutmut(work, "show", name).stdout.splitlines()
    old = [ln[1:] for ln in diff if ln.startswith("-") and not ln.startswith("---")]
    new = [ln[1:] for ln in diff if ln.startswith("+") and not ln.startswith("+++")]
    return (
        bool(old)
        and len(old) == len(new)
        and all(a != b and a.lower() == b.lower() for a, b in zip(old, new, strict=True))
    )


def run_mutmut(target: dict, equivalent: dict, sample: int | None, seed: int, work: Path):
    """mutmut over one target in the scratch copy ``work``; returns its :class:`Outcome`."""
    start = time.monotonic()
    (work / "setup.cfg").write_text(_setup_cfg(target), encoding="utf-8")
    shutil.rmtree(work / "mutants", ignore_errors=True)
    globs = mutant_globs(target["module"], target.get("functions"))
    names, sampled_from = list(globs), 0
    if sample is not None:
        _mutmut(work, "run", "__generate_only__")  # generates the mutants, runs none
        meta = json.loads((work / "mutants" / f"{target['module']}.meta").read_text())
        every = sorted(
            k for k in meta["exit_code_by_key"] if any(fnmatch.fnmatch(k, g) for g in globs)
        )
        names = sorted(random.Random(seed).sample(every, min(sample, len(every))))
        sampled_from = len(every)
    proc = _mutmut(work, "run", *names)
    if proc.returncode != 0 and "Filtered for specific mutants" not in proc.stdout + proc.stderr:
        raise RuntimeError(f"mutmut failed on {target['module']}:\n{proc.stdout[-3000:]}")
    wanted = [
        (name, status)
        for name, status in _statuses(work).items()
        if any(fnmatch.fnmatch(name, g) for g in names)
    ]
    out = Outcome(target["module"], "mutmut", seconds=time.monotonic() - start)
    out.sampled_from = sampled_from
    for name, status in sorted(wanted):
        if status == "not checked":
            continue
        out.total += 1
        if status in ("killed", "timeout"):
            out.killed += 1
        elif name in equivalent:
            out.equivalent.append(name)
        elif target.get("sql_case_insensitive") and status == "survived" and case_only(work, name):
            out.equivalent.append(f"{name} (letter case of SQL text)")
        else:
            out.survived.append(f"{name}: {status}")
    for name, status in wanted:
        if name in equivalent and status in ("killed", "timeout"):
            # mutmut numbers a function's mutants in order: an edit above renumbers them
            print(f"stale [equivalent] entry, the mutant is killed: {name}", file=sys.stderr)
    return out


# --------------------------------------------------------------------------- SQL text pass

# (name, pattern, replacement) applied inside string literals, one occurrence per mutant.
SQL_OPERATORS: tuple[tuple[str, str, str], ...] = (
    ("<= to <", r"<=", "<"),
    (">= to >", r">=", ">"),
    ("<> to =", r"<>", "="),
    ("< to <=", r"(?<![<>=!])<(?![=>])", "<="),
    ("> to >=", r"(?<![<>=-])>(?!=)", ">="),
    ("= to <>", r"(?<![<>=!])=(?!=)", "<>"),
    ("and to or", r"\band\b", "or"),
    ("or to and", r"\bor\b", "and"),
    ("is null to is not null", r"\bis null\b", "is not null"),
    ("is not null to is null", r"\bis not null\b", "is null"),
    ("number + 1", r"(?<![\w.])\d+(?![\w.])", None),
    ("drop ^ anchor", r"(?<=['\"])\^", ""),
    ("drop $ anchor", r"\$(?=[)'\"])", ""),
    ("+ to * quantifier", r"(?<=[\])])\+", "*"),
    ("drop ? quantifier", r"(?<=[\])])\?", ""),
    ("alter a quoted value", r"'([^'{}\s]{1,12})'", None),
)


def _docstring_lines(source: str) -> set[int]:
    """First lines of the module's, classes' and functions' docstrings (not SQL)."""
    lines = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                lines.add(body[0].lineno)
    return lines


def _position(text: str, offset: int, start: tuple[int, int]) -> tuple[int, int]:
    """(line, column) in the module of ``offset`` into a string token starting at ``start``."""
    before = text[:offset]
    line = start[0] + before.count("\n")
    col = (start[1] + offset) if "\n" not in before else len(before) - before.rindex("\n") - 1
    return line, col


def sql_mutants(source: str) -> list[tuple[str, str]]:
    """(description, mutated source) for every substitution site in the string literals."""
    docstrings = _docstring_lines(source)
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    mutants = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or tok.start[0] in docstrings:
            continue
        begin = line_starts[tok.start[0] - 1] + tok.start[1]
        text = tok.string
        for name, pattern, replacement in SQL_OPERATORS:
            for m in re.finditer(pattern, text):
                if replacement is None and name == "number + 1":
                    new = str(int(m.group(0)) + 1)
                elif replacement is None:
                    new = f"'{m.group(1)}_'"
                else:
                    new = replacement
                mutated = text[: m.start()] + new + text[m.end() :]
                line, col = _position(text, m.start(), tok.start)
                where = f"line {line} col {col}: {name}: {m.group(0)!r}"
                mutants.append((where, source[:begin] + mutated + source[begin + len(text) :]))
    return mutants


def run_sql_pass(target: dict, equivalent: dict, sample: int | None, seed: int, work: Path):
    """The substitution pass over ``target``'s string literals in the scratch copy ``work``."""
    start = time.monotonic()
    path = work / target["module"]
    original = path.read_text(encoding="utf-8")
    mutants = sql_mutants(original)
    every = len(mutants)
    if sample is not None:
        mutants = random.Random(seed).sample(mutants, min(sample, len(mutants)))
    out = Outcome(target["module"], "sql", total=len(mutants))
    out.sampled_from = every if sample is not None else 0
    try:
        for where, mutated in mutants:
            path.write_text(mutated, encoding="utf-8")
            try:
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-x",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        *target["tests"],
                    ],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=MUTANT_TIMEOUT_S,
                    env={**_clean_env(), "PYTHONPATH": str(work)},
                )
                killed = proc.returncode != 0
            except subprocess.TimeoutExpired:
                killed = True
            key = f"{target['module']} {where}"
            if killed:
                out.killed += 1
            elif key in equivalent:
                out.equivalent.append(key)
            else:
                out.survived.append(key)
    finally:
        path.write_text(original, encoding="utf-8")
    out.seconds = time.monotonic() - start
    return out


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MUTANT")}


# --------------------------------------------------------------------------- dbt rules

DBT_UNIT_TESTS = """
import json, sys
from pathlib import Path
from scenetrack.config import Paths
from scenetrack.transform import run_dbt
result = run_dbt(Paths(Path(sys.argv[1])), ["test", "--select", "test_type:unit"])
print(json.dumps({"success": result.success, "failed": result.failed}))
"""

DBT_HOME = """
import sys
from pathlib import Path
from ingestion.generate import generate
from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths
home = Paths(Path(sys.argv[1])).ensure()
ingest_paths(home, generate(home.home / "samples", cities=3, seed=11))
build(home)
"""


def _dbt_python(work: Path, code: str, home: Path) -> subprocess.CompletedProcess:
    env = {**_clean_env(), "PYTHONPATH": str(work), "SCENETRACK_PROJECT_DIR": str(work)}
    return subprocess.run(
        [sys.executable, "-c", code, str(home)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=MUTANT_TIMEOUT_S * 2,
    )


def run_dbt_mutants(mutants: list[dict], work: Path) -> Outcome:
    """Each lifecycle-rule mutant of a dbt model must fail a dbt unit test (a small built
    warehouse gives the unit tests their parents' types; unmutated, every unit test passes)."""
    start = time.monotonic()
    home = work / ".mutation-home"
    built = _dbt_python(work, DBT_HOME, home)
    if built.returncode != 0:
        raise RuntimeError(f"could not build the warehouse for dbt unit tests:\n{built.stderr}")

    def unit_tests() -> dict:
        proc = _dbt_python(work, DBT_UNIT_TESTS, home)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    clean = unit_tests()
    if not clean["success"]:
        raise RuntimeError(f"dbt unit tests fail without a mutant: {clean['failed']}")
    out = Outcome("dbt_project (lifecycle rules)", "dbt", total=len(mutants))
    for m in mutants:
        path = work / m["model"]
        original = path.read_text(encoding="utf-8")
        if original.count(m["old"]) != 1:
            raise RuntimeError(f"{m['model']}: the text of mutant {m['rule']!r} is not there once")
        path.write_text(original.replace(m["old"], m["new"]), encoding="utf-8")
        try:
            result = unit_tests()
        finally:
            path.write_text(original, encoding="utf-8")
        if result["success"]:
            out.survived.append(m["rule"])
        else:
            out.killed += 1
            print(f"  killed by {', '.join(result['failed'])}: {m['rule']}", flush=True)
    out.seconds = time.monotonic() - start
    return out


# --------------------------------------------------------------------------- report

TOOLS = ("mutmut", "sql", "dbt")


def load_results(path: Path | None = None) -> list[Outcome]:
    """The outcomes of the last full pass (``results/mutation.json``), empty when none."""
    path = path or RESULTS
    if not path.exists():
        return []
    fields = set(Outcome.__dataclass_fields__)
    return [
        Outcome(**{k: v for k, v in row.items() if k in fields})
        for row in json.loads(path.read_text(encoding="utf-8"))
    ]


def merge(old: list[Outcome], new: list[Outcome], config: dict) -> list[Outcome]:
    """``old`` with each (module, tool) of ``new`` replaced, in the config's order (modules no
    longer in the config are dropped)."""
    rows = {(o.module, o.tool): o for o in old} | {(o.module, o.tool): o for o in new}
    order = [t["module"] for t in config["target"]] + ["dbt_project (lifecycle rules)"]
    return [rows[(module, tool)] for module in order for tool in TOOLS if (module, tool) in rows]


def render(outcomes: list[Outcome], target_score: float, sample: int | None) -> str:
    kind = f"a sample of {sample} mutants per module and tool" if sample else "every mutant"
    lines = [
        "# Mutation testing",
        "",
        f"`python -m benchmarks.mutation` ({kind}); targets, tests and equivalent mutants: "
        "[mutation.toml](mutation.toml). Target: "
        f"{target_score:.0%} of the non-equivalent mutants killed, per module.",
        "",
        "| module | tool | mutants | killed | equivalent | survived | score | seconds | run on |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in outcomes:
        lines.append(
            f"| `{o.module}` | {o.tool} | {o.total}"
            + (f" (sample of {o.sampled_from})" if o.sampled_from else "")
            + f" | {o.killed} | {len(o.equivalent)} | "
            f"{len(o.survived)} | {o.score:.0%} | {o.seconds:.0f} | {o.run_on} |"
        )
    lines.append("")
    for o in outcomes:
        if o.survived:
            lines += [f"## Survivors: `{o.module}` ({o.tool})", ""]
            lines += [f"- `{s}`" for s in o.survived]
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, help="mutants per module and tool (CI)")
    parser.add_argument("--only", action="append", help="module(s) to run (default: all)")
    parser.add_argument("--check", action="store_true", help="exit 1 below the target score")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument(
        "--record",
        action="store_true",
        help="with --sample: put the sampled rows in the report too (marked as samples)",
    )
    parser.add_argument(
        "--dbt", action="store_true", help="only the dbt lifecycle-rule mutants (with --only: too)"
    )
    args = parser.parse_args(argv)
    config = load_config()
    equivalent = config.get("equivalent", {})
    seed = int(config.get("sample_seed", 0))
    outcomes: list[Outcome] = []
    base = Path(tempfile.mkdtemp(prefix="scenetrack-mutation-"))
    try:
        for target in config["target"]:
            if (args.only and target["module"] not in args.only) or (args.dbt and not args.only):
                continue
            work = scratch_copy(base / target["module"].replace("/", "_"))
            outcomes.append(run_mutmut(target, equivalent, args.sample, seed, work))
            print(_line(outcomes[-1]), flush=True)
            if target.get("sql"):
                outcomes.append(run_sql_pass(target, equivalent, args.sample, seed, work))
                print(_line(outcomes[-1]), flush=True)
        if args.sample is None and (args.dbt or not args.only):
            work = scratch_copy(base / "dbt_project")
            outcomes.append(run_dbt_mutants(config.get("dbt_mutant", []), work))
            print(_line(outcomes[-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    target_score = float(config.get("target_score", 0.9))
    if args.sample is None or args.record:
        # a full pass over some modules (--only, --dbt) replaces their rows of the report and
        # keeps the others': per-module runs add up to the report of a full pass
        merged = merge(load_results(), outcomes, config)
        REPORT.write_text(render(merged, target_score, None), encoding="utf-8")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps([asdict(o) | {"score": o.score} for o in merged], indent=2) + "\n",
            encoding="utf-8",
        )
    print(render(outcomes, target_score, args.sample))
    low = [o for o in outcomes if o.score < target_score]
    for o in low:
        print(f"below {target_score:.0%}: {o.module} ({o.tool}) {o.score:.0%}", file=sys.stderr)
    return 1 if args.check and low else 0


def _line(o: Outcome) -> str:
    return (
        f"{o.module} ({o.tool}): {o.killed}/{o.total} killed, {len(o.equivalent)} equivalent, "
        f"score {o.score:.0%}, {len(o.survived)} survived, {o.seconds:.0f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
