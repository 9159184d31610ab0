"""Fetch the third-party browser assets the report and the GX Data Docs load, from the npm
registry, into ``scenetrack/vendor/`` (committed): nothing is fetched at install or run time.

Run ``python scripts/vendor_assets.py`` after changing a version below; it rewrites the files
and ``scenetrack/vendor/MANIFEST.json`` (package, version, license, file, sha256). Needs npm.

- ``report/``: DataTables (sorting, filtering, CSV/XLSX download and print of each table of
  the evaluator report) with its Buttons extension, JSZip (XLSX) and jQuery (DataTables 2
  still needs it).
- ``data_docs/``: what GX 1.x's Data Docs templates load from CDNs (bootstrap, bootstrap-table,
  font awesome, vega, ...), the exact versions those templates name;
  ``scenetrack.data_docs`` points the rendered pages at these copies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "scenetrack" / "vendor"

# (group, npm package, version, {path in the package: path under vendor/<group>/})
ASSETS: list[tuple[str, str, str, dict[str, str]]] = [
    ("report", "jquery", "3.7.1", {"dist/jquery.min.js": "jquery.min.js"}),
    ("report", "datatables.net", "2.3.8", {"js/dataTables.min.js": "dataTables.min.js"}),
    (
        "report",
        "datatables.net-dt",
        "2.3.8",
        {"css/dataTables.dataTables.min.css": "dataTables.dataTables.min.css"},
    ),
    (
        "report",
        "datatables.net-buttons",
        "3.2.6",
        {
            "js/dataTables.buttons.min.js": "dataTables.buttons.min.js",
            "js/buttons.html5.min.js": "buttons.html5.min.js",
            "js/buttons.print.min.js": "buttons.print.min.js",
        },
    ),
    (
        "report",
        "datatables.net-buttons-dt",
        "3.2.6",
        {"css/buttons.dataTables.min.css": "buttons.dataTables.min.css"},
    ),
    ("report", "jszip", "3.10.1", {"dist/jszip.min.js": "jszip.min.js"}),
    ("data_docs", "jquery", "3.7.1", {"dist/jquery.min.js": "jquery.min.js"}),
    ("data_docs", "popper.js", "1.12.9", {"dist/umd/popper.min.js": "popper.min.js"}),
    (
        "data_docs",
        "bootstrap",
        "4.3.1",
        {
            "dist/css/bootstrap.min.css": "bootstrap.min.css",
            "dist/js/bootstrap.min.js": "bootstrap.min.js",
        },
    ),
    (
        "data_docs",
        "@forevolve/bootstrap-dark",
        "1.1.0",
        {"dist/css/bootstrap-prefers-dark.css": "bootstrap-prefers-dark.css"},
    ),
    (
        "data_docs",
        "bootstrap-table",
        "1.19.1",
        {
            "dist/bootstrap-table.min.css": "bootstrap-table.min.css",
            "dist/bootstrap-table.min.js": "bootstrap-table.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
                "bootstrap-table-filter-control.min.js"
            ),
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
                "bootstrap-table-filter-control.min.css"
            ),
        },
    ),
    (
        "data_docs",
        "bootstrap-datepicker",
        "1.9.0",
        {
            "dist/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
            "dist/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
        },
    ),
    (
        "data_docs",
        "@fortawesome/fontawesome-free",
        "6.6.0",
        {
            "css/all.min.css": "fontawesome/css/all.min.css",
            "webfonts/fa-solid-900.woff2": "fontawesome/webfonts/fa-solid-900.woff2",
            "webfonts/fa-regular-400.woff2": "fontawesome/webfonts/fa-regular-400.woff2",
            "webfonts/fa-brands-400.woff2": "fontawesome/webfonts/fa-brands-400.woff2",
            "webfonts/fa-v4compatibility.woff2": "fontawesome/webfonts/fa-v4compatibility.woff2",
        },
    ),
    ("data_docs", "vega", "5.33.1", {"build/vega.min.js": "vega.min.js"}),
    ("data_docs", "vega-lite", "5.23.0", {"build/vega-lite.min.js": "vega-lite.min.js"}),
    ("data_docs", "vega-embed", "6.29.0", {"build/vega-embed.min.js": "vega-embed.min.js"}),
]


def _pack(package: str, version: str, into: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return into / json.loads(out)[0]["filename"]


def main() -> int:
    manifest = []
    shutil.rmtree(VENDOR / "report", ignore_errors=True)
    shutil.rmtree(VENDOR / "data_docs", ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        for group, package, version, files in ASSETS:
            tgz = _pack(package, version, Path(tmp))
            with tarfile.open(tgz) as tar:
                meta = json.load(tar.extractfile("package/package.json"))
                for src, dest in files.items():
                    data = tar.extractfile(f"package/{src}").read()
                    target = VENDOR / group / dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    manifest.append(
                        {
                            "group": group,
                            "package": package,
                            "version": meta["version"],
                            "license": meta.get("license"),
                            "from": src,
                            "file": f"{group}/{dest}",
                            "sha256": hashlib.sha256(data).hexdigest(),
                        }
                    )
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(manifest)} files under {VENDOR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
