"""GX Data Docs that work offline: the pages' CDN assets served from local copies.

GX's Data Docs templates load jQuery, Bootstrap, bootstrap-table, Font Awesome, Vega and a few
more from CDNs; offline (a mailed folder, CI, an air-gapped office) the index then lists no
validation and the status column stays blank, because bootstrap-table renders that table in
the browser. :func:`localise` copies the versions the templates name (vendored from the npm
registry by ``scripts/vendor_assets.py`` into ``scenetrack/vendor/data_docs``) into the site's
``static/vendor/`` and rewrites every page's references to them, relative to each page, so the
site opens from disk with no network. A reference the table below does not know is left as it
is and reported (a GX upgrade that adds an asset shows up in :func:`remote_assets`).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor" / "data_docs"

# The CDN URL prefixes GX's templates use -> the vendored copy (under vendor/data_docs/).
LOCAL_COPIES: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-prefers-dark.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
    # the validation pages name the unminified stylesheet (same rules)
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
}
# GX's logo is on S3 (with a cache-busting query); the site carries the same image locally.
LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+/logo-long\.png(\?[^\"']*)?")
LOGO_LOCAL = "static/images/logo-long.png"
ASSET_REF = re.compile(r"""(?:src|href)=["'](https?://[^"']+)["']""")


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def localise(site: Path) -> int:
    """Copy the vendored assets into ``site/static/vendor`` and point every page at them;
    returns the number of references rewritten."""
    target = site / "static" / "vendor"
    shutil.copytree(VENDOR, target, dirs_exist_ok=True)
    rewritten = 0
    for page in _pages(site):
        html = page.read_text(encoding="utf-8")
        rel = Path(os.path.relpath(site, page.parent)).as_posix()
        for url, local in LOCAL_COPIES.items():
            quoted = re.compile(rf"""(["']){re.escape(url)}(["'])""")
            html, n = quoted.subn(rf"\g<1>{rel}/static/vendor/{local}\g<2>", html)
            rewritten += n
        html, n = LOGO.subn(f"{rel}/{LOGO_LOCAL}", html)
        rewritten += n
        page.write_text(html, encoding="utf-8")
    return rewritten


def remote_assets(site: Path) -> list[str]:
    """Assets (``src``, stylesheet ``href``) a page of the site still loads from the network."""
    found: set[str] = set()
    for page in _pages(site):
        html = page.read_text(encoding="utf-8")
        for m in re.finditer(r"<(script|link)\b[^>]*>", html):
            tag = m.group(0)
            if m.group(1) == "link" and "stylesheet" not in tag:
                continue
            found.update(ASSET_REF.findall(tag))
        found.update(u for u in re.findall(r"<img\b[^>]*src=[\"'](https?://[^\"']+)", html))
    return sorted(found)
