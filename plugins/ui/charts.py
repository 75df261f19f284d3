"""Charts drawn on the server as inline SVG: no script, nothing fetched. Every label is
escaped; numbers are formatted here."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 12, 28


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    if abs(value) >= 10:
        return f"{value:.0f}"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.4f}"


def _frame(
    title: str, top: float, labels: Sequence[str], body: list[str], width: int = WIDTH
) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(3):  # grid lines at 0, half and the top
        y = TOP + plot_h - plot_h * i / 2
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(top * i / 2))}</text>"
        )
    parts.extend(body)
    if labels:
        step = max(1, len(labels) // 6)
        plot_w = width - LEFT - RIGHT
        shown = sorted({*range(0, len(labels), step), len(labels) - 1})
        if len(shown) > 1 and shown[-1] - shown[-2] < step:
            shown.pop(-2)  # keep the latest bucket's label, not two crowded ones
        for i in shown:
            x = LEFT + plot_w * (i + 0.5) / len(labels)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(labels[i])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text escaped above


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    width: int = WIDTH,
) -> Markup:
    """Stacked bars, one per label; `series` is (css class, values) bottom to top."""
    count = len(labels)
    totals = [sum(values[i] for _, values in series) for i in range(count)]
    top = max(totals, default=0) or 1
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = []
    for i in range(count):
        slot = plot_w / max(count, 1)
        x = LEFT + slot * i + slot * 0.15
        base = float(TOP + plot_h)
        for css, values in series:
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            body.append(
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{base:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}">'
                f"<title>{escape(labels[i])}: {escape(_fmt(value))}</title></rect>"
            )
    return _frame(title, top, labels, body, width)


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> Markup:
    """Lines (one per series, css class) over the labels; None leaves a gap."""
    count = len(labels)
    top = max((v for _, values in series for v in values if v is not None), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = []
    for css, values in series:
        points = []
        for i, value in enumerate(values):
            if value is None:
                continue
            x = LEFT + plot_w * (i + 0.5) / max(count, 1)
            y = TOP + plot_h - plot_h * value / top
            points.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="{escape(css)}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                f"<title>{escape(labels[i])}: {escape(_fmt(value))}</title></circle>"
            )
        if points:
            body.insert(0, f'<polyline class="{escape(css)}" points="{" ".join(points)}"/>')
    return _frame(title, top, labels, body)
