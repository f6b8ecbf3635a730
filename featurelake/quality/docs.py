"""Data Docs: GX's site rebuilt from every stored suite and validation, with a plain listing that works offline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from featurelake.core import html
from featurelake.core.settings import Settings
from featurelake.quality.validation import DOCS_SITE, gx_context


def build_docs(settings: Settings) -> str | None:
    """Rebuild the Data Docs site from every suite and validation stored so far; returns its index."""
    if "://" in settings.lake_root or not (Path(settings.lake_root) / "quality" / "gx").exists():
        return None
    context = gx_context(settings)
    index = context.build_data_docs(site_names=[DOCS_SITE]).get(DOCS_SITE)
    _add_static_overview(context, Path(settings.lake_root) / "quality" / "docs")
    return index


@dataclass(frozen=True)
class Listed:
    """A suite or a validation in the overview, with its page relative to the index (None: no page found)."""

    name: str
    page: str | None
    status: str = ""  # of a validation: passed or failed
    when: dt.datetime | None = None


def _add_static_overview(context, docs: Path) -> None:
    """GX's index lists suites and validations with JavaScript fetched from public CDNs, so on a machine
    without internet access it shows nothing. Add the same listing as plain HTML at the top of the index
    (templates/docs_overview.html.j2)."""
    store = context.validation_results_store
    validations = []
    for key in store.list_keys():
        suite_name = key.expectation_suite_identifier.name
        when = key.run_id.run_time
        stamp = when.strftime("%Y%m%dT%H%M%S.%fZ")
        pages = sorted((docs / "validations").glob(f"{suite_name.replace('.', '/')}/*/{stamp}/*.html"))
        status = "passed" if store.get(key).success else "failed"
        page = str(pages[0].relative_to(docs)) if pages else None
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
