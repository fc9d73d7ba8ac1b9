"""Server-side SVG bar charts for the dashboard (no script, readable without colour)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart"]

BAR_HEIGHT = 22
LABEL_WIDTH = 120
CHART_WIDTH = 520


def bar_chart(title: str, rows: Sequence[tuple[str, int | str]]) -> str:
    """A horizontal bar chart of (label, value); suppressed cells ("<3") show as text, no bar."""
    numbers = [v for _, v in rows if isinstance(v, int)]
    top = max(numbers, default=0) or 1
    height = BAR_HEIGHT * max(len(rows), 1) + 8
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
    ]
    span = CHART_WIDTH - LABEL_WIDTH - 60
    for i, (label, value) in enumerate(rows):
        y = 4 + i * BAR_HEIGHT
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(label[:10])}</text>'
        )
        if isinstance(value, int):
            width = max(1, round(span * value / top)) if value else 0
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}"/>'
            )
            parts.append(f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 15}">{value}</text>')
        else:
            parts.append(f'<text x="{LABEL_WIDTH + 4}" y="{y + 15}">{escape(str(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)
