"""The HTML pages (model card, drift report, Data Docs overview) from the Jinja2 templates in featurelake/templates,
and the plots they embed, rendered to PNG.

Every value reaching a page is escaped (autoescape): the code passes plain data (rows, dataclasses), the templates
hold the markup. The loader reads the templates from the package, also when it is imported from a zip
(spark-submit --py-files).
"""

from __future__ import annotations

import base64
import io
import json
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def thousands(value: int) -> str:
    return f"{value:,}"


def percent(value: float) -> str:
    return f"{value:.1%}"


def png_data_uri(png: bytes) -> str:
    """The image inline (so a copy in MLflow's artifact viewer shows it); base64 needs no escaping."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_json(value) -> str:
    return json.dumps(value, sort_keys=True)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("featurelake", "templates"),
        autoescape=select_autoescape(("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, thousands=thousands, percent=percent, png_data_uri=png_data_uri, json=to_json)
    return env


def render(template_name: str, **context) -> str:
    """The template featurelake/templates/<template_name> filled with ``context``."""
    return environment().get_template(template_name).render(**context)


def figure_png(draw) -> bytes:
    """A matplotlib figure drawn by ``draw(axes)``, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster driver
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
