"""The report's Jinja templates are files under scenetrack/report/templates/, shipped as
package data (pyproject's ``[tool.setuptools.package-data]``) and loaded from the package."""

from __future__ import annotations

import tomllib

from scenetrack.config import PROJECT_DIR

PACKAGE = PROJECT_DIR / "scenetrack"


def test_every_template_is_package_data() -> None:
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["scenetrack"]
    shipped = {f for g in globs for f in PACKAGE.glob(g)}
    templates = set((PACKAGE / "report" / "templates").iterdir())
    assert templates and templates <= shipped


def test_the_report_loads_them_from_the_package() -> None:
    from scenetrack.report.build import _env

    env = _env()
    assert sorted(env.list_templates()) == sorted(
        f.name for f in (PACKAGE / "report" / "templates").iterdir()
    )
    for name in env.list_templates():
        env.get_template(name)  # parses; includes and imports resolve by these names
