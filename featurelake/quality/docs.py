"""Data Docs: GX's site rebuilt from every stored suite and validation, with a plain listing that works offline."""

from __future__ import annotations

from pathlib import Path

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


def _add_static_overview(context, docs: Path) -> None:
    """GX's index lists suites and validations with JavaScript fetched from public CDNs, so on a machine
    without internet access it shows nothing. Add the same listing as plain HTML at the top of the index."""
    import html

    store = context.validation_results_store
    validations = []
    for key in store.list_keys():
        suite_name = key.expectation_suite_identifier.name
        stamp = key.run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")
        pages = sorted((docs / "validations").glob(f"{suite_name.replace('.', '/')}/*/{stamp}/*.html"))
        status = "passed" if store.get(key).success else "failed"
        validations.append((key.run_id.run_time, suite_name, status, pages[0].relative_to(docs) if pages else None))
    validations.sort(reverse=True)
    suites = sorted(s.name for s in context.suites.all())

    def link(target, text: str) -> str:
        return f'<a href="{html.escape(str(target))}">{html.escape(text)}</a>' if target else html.escape(text)

    suite_items = "".join(
        f'<li class="featurelake-suite">{link(Path("expectations", *name.split(".")).with_suffix(".html"), name)}</li>'
        for name in suites
    )
    validation_items = "".join(
        f'<li class="featurelake-validation {status}">{link(page, f"{name} at {when:%Y-%m-%d %H:%M:%S} UTC")}: '
        f"<strong>{status.upper()}</strong></li>"
        for when, name, status, page in validations
    )
    overview = (
        '<section id="featurelake-overview"><h2>featurelake quality</h2>'
        f"<h3>Expectation suites ({len(suites)})</h3><ul>{suite_items}</ul>"
        f"<h3>Validations ({len(validations)}, newest first)</h3><ul>{validation_items}</ul></section>"
    )
    index = docs / "index.html"
    text = index.read_text(encoding="utf-8")
    index.write_text(text.replace("<body>", f"<body>{overview}", 1), encoding="utf-8")
