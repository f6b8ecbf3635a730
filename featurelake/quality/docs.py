"""Data Docs: GX's site rebuilt from every stored suite and validation, with a plain listing, that works offline.

GX's pages load Bootstrap, Font Awesome and jQuery from public CDNs, so on a machine without internet access
they show unstyled. The site gets its own copies from Python packages (the XStatic packages, installed with
featurelake) under ``static/vendor/``, and every page links them instead; the CDN scripts no package ships
(bootstrap-table, the date picker, Vega for charts, a dark theme) are dropped: the pages read without them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from featurelake.core import html
from featurelake.core.settings import Settings
from featurelake.quality.mirror import QUALITY, SITE, mirrored, quality_dir, write_back
from featurelake.quality.validation import DOCS_SITE, gx_context, unbuilt


def build_docs(settings: Settings, spark=None) -> str | None:
    """Bring the Data Docs site up to date; returns the address of its index (on an object store, the site is
    built in the quality folder's local mirror and written back: mirror.py). A lake's first build renders every
    suite and validation stored so far; later ones only the pages of what this process stored since its last
    build (and the index), so a command's cost does not grow with the lake's history of validations."""
    fresh = unbuilt(settings)
    if settings.lake_is_remote:
        if not fresh and not mirrored(settings):
            return None  # this process validated nothing: the site on the lake stands as it is
    elif not (quality_dir(settings) / "gx").exists():
        return None
    docs = quality_dir(settings, spark) / SITE
    incremental = (docs / "index.html").exists()
    if fresh or not incremental:
        context = gx_context(settings, spark)
        started = time.time()
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=fresh if incremental else None)
        _add_static_overview(context, docs, derived_pages=settings.lake_is_remote)
        _ship_static_files(docs, since=started if incremental else None)
    if not settings.lake_is_remote:
        return (docs / "index.html").as_uri()
    write_back(spark, settings)
    return f"{settings.lake_root}/{QUALITY}/{SITE}/index.html"


def _vendored() -> dict[str, tuple[Path, list[str]]]:
    """Per CDN file GX links, the packaged copy: (package data directory, files to copy) by URL pattern."""
    import xstatic.pkg.bootstrap as bootstrap
    import xstatic.pkg.font_awesome as font_awesome
    import xstatic.pkg.jquery as jquery

    return {
        r"bootstrap(\.min)?\.css$": (Path(bootstrap.BASE_DIR), ["css/bootstrap.min.css"]),
        r"bootstrap(\.bundle)?(\.min)?\.js$": (Path(bootstrap.BASE_DIR), ["js/bootstrap.bundle.min.js"]),
        r"font-awesome/.*all(\.min)?\.css$": (Path(font_awesome.BASE_DIR), ["css/all.min.css", "webfonts"]),
        r"jquery-[0-9.]+(\.min)?\.js$": (Path(jquery.BASE_DIR), ["jquery.min.js"]),
    }


CDN_TAG = re.compile(
    r'<link\b[^>]*href="(https?://[^"]+)"[^>]*>|<script\b[^>]*src="(https?://[^"]+)"[^>]*>\s*</script>'
)


def _ship_static_files(docs: Path, since: float | None = None) -> None:
    """Copy the packaged CSS, fonts and scripts into the site and point the CDN links of every page (of every
    page written ``since`` then, when given) at them."""
    vendor = docs / "static" / "vendor"
    local: dict[str, Path] = {}
    for pattern, (base, files) in _vendored().items():
        name = base.parent.name
        for item in files:
            target = vendor / name / item
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                copy = shutil.copytree if (base / item).is_dir() else shutil.copyfile
                copy(base / item, target)
        local[pattern] = vendor / name / files[0]
    for page in docs.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since - 1:
            continue  # rewritten when it was built
        text = page.read_text(encoding="utf-8")
        rewritten = CDN_TAG.sub(functools.partial(_offline_tag, page=page, local=local), text)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")


def _offline_tag(tag: re.Match, *, page: Path, local: dict[str, Path]) -> str:
    url = tag.group(1) or tag.group(2)
    for pattern, path in local.items():
        if re.search(pattern, url):
            relative = Path(os.path.relpath(path, page.parent)).as_posix()
            if tag.group(1):
                return f'<link rel="stylesheet" href="{relative}">'
            return f'<script src="{relative}"></script>'
    return ""  # no package ships it: the page reads without it


@dataclass(frozen=True)
class Listed:
    """A suite or a validation in the overview, with its page relative to the index (None: no page found)."""

    name: str
    page: str | None
    status: str = ""  # of a validation: passed or failed
    when: dt.datetime | None = None


_SUCCEEDED: dict[tuple, bool] = {}  # a stored validation result never changes: read once per process


def _succeeded(store, key, docs: Path) -> bool:
    run = key.run_id
    name = (str(docs), key.expectation_suite_identifier.name, getattr(run, "run_name", None), run.run_time)
    name += (getattr(key, "batch_identifier", None),)
    if name not in _SUCCEEDED:
        _SUCCEEDED[name] = bool(store.get(key).success)
    return _SUCCEEDED[name]


def _add_static_overview(context, docs: Path, derived_pages: bool = False) -> None:
    """GX's index lists suites and validations with JavaScript fetched from public CDNs, so on a machine
    without internet access it shows nothing. Add the same listing as plain HTML at the top of the index
    (templates/docs_overview.html.j2). A mirror (``derived_pages``) holds only the pages it built: the others'
    are where GX puts a validation's page, its store key as a path."""
    store = context.validation_results_store
    validations = []
    for key in store.list_keys():
        suite_name = key.expectation_suite_identifier.name
        when = key.run_id.run_time
        stamp = when.strftime("%Y%m%dT%H%M%S.%fZ")
        pages = sorted((docs / "validations").glob(f"{suite_name.replace('.', '/')}/*/{stamp}/*.html"))
        status = "passed" if _succeeded(store, key, docs) else "failed"
        page = str(pages[0].relative_to(docs)) if pages else None
        if page is None and derived_pages:
            run_name, batch = key.run_id.run_name, getattr(key, "batch_identifier", None)
            page = str(Path("validations", *suite_name.split("."), run_name, stamp, f"{batch}.html"))
        validations.append(Listed(suite_name, page, status, when))
    validations.sort(key=lambda v: (v.when, v.name, v.status, v.page or ""), reverse=True)
    suites = [
        Listed(name, str(Path("expectations", *name.split(".")).with_suffix(".html")))
        for name in sorted(s.name for s in context.suites.all())
    ]
    overview = html.render("docs_overview.html.j2", suites=suites, validations=validations)
    index = docs / "index.html"
    text = index.read_text(encoding="utf-8")
    index.write_text(text.replace("<body>", f"<body>{overview}", 1), encoding="utf-8")
