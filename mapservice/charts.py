"""Charts drawn on the server as plain SVG: no JavaScript, readable by screen readers."""
from __future__ import annotations

from markupsafe import Markup, escape

BAR_HEIGHT = 18
BAR_GAP = 6
LABEL_WIDTH = 215
VALUE_WIDTH = 48
CHART_WIDTH = 440


def horizontal_bar_chart(bars: list[tuple[str, int]], title: str, *, highlight_zero: bool = True) -> Markup:
    """A horizontal bar chart of ``(label, value)`` pairs as inline SVG markup.

    Labels and the title are escaped; the chart scales to its container (``viewBox``) and
    carries a ``<title>`` and one ``<title>`` per bar for assistive technology.  Zero bars
    are drawn as a short red tick when ``highlight_zero``.
    """
    top = max((value for _, value in bars), default=0) or 1
    plot_width = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(bars) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    parts = [
        f'<svg class="bar-chart" role="img" viewBox="0 0 {CHART_WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(bars):
        y = BAR_GAP + i * (BAR_HEIGHT + BAR_GAP)
        width = round(plot_width * value / top, 1)
        text_y = y + BAR_HEIGHT * 0.72
        zero = value == 0 and highlight_zero
        parts.append(f"<g><title>{escape(label)}: {int(value)}</title>")
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{text_y:.1f}" text-anchor="end" font-size="12">'
            f"{escape(_shorten(label))}</text>"
        )
        if zero:
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="3" height="{BAR_HEIGHT}" fill="#c1121f"/>')
        else:
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(width, 1)}" height="{BAR_HEIGHT}" fill="#2a9d8f"/>')
        value_x = LABEL_WIDTH + (3 if zero else max(width, 1)) + 4
        emphasis = ' fill="#c1121f" font-weight="bold"' if zero else ""
        parts.append(f'<text x="{value_x:.1f}" y="{text_y:.1f}" font-size="12"{emphasis}>{int(value)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _shorten(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"
