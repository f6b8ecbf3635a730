"""What the model card and the drift report share: plots rendered to PNG, HTML tables, embedded figures."""

from __future__ import annotations

import base64
import html
import io

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.flagged td { background: #fde2e1; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
figure { margin: 0; }
figure img { width: 100%; }
"""


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


def number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(headers: list[str], rows: list[list], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figures(plots: dict[str, bytes], titles: dict[str, str]) -> str:
    """The plots embedded in the page (so a copy in MLflow's artifact viewer shows them), in a grid."""
    e = html.escape
    images = "".join(
        f'<figure><img alt="{e(title)}" src="data:image/png;base64,{base64.b64encode(plots[name]).decode()}">'
        f"<figcaption>{e(title)} ({e(name)})</figcaption></figure>"
        for name, title in titles.items()
    )
    return f'<div class="plots">{images}</div>'
