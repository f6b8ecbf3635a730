"""The text tables of the console summaries: columns padded to their widest cell, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

GAP = "  "


def text_table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence],
    numeric: Collection[int] = (),
    *,
    rule: bool = False,
    indent: str = "",
) -> str:
    """The rows (cells shown with ``str``) under the headers (none: no header line), a dashed rule under the headers
    when ``rule``; the columns whose indexes are in ``numeric`` right-aligned, the others left-aligned. Each line
    starts with ``indent`` and has no trailing spaces."""
    cells = [[str(c) for c in r] for r in rows]
    lines = cells if headers is None else [list(headers), *cells]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def fmt(line: list[str]) -> str:
        padded = (c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        return (indent + GAP.join(padded)).rstrip()

    out = [fmt(line) for line in lines]
    if headers is not None and rule:
        out.insert(1, fmt(["-" * w for w in widths]))
    return "\n".join(out)
