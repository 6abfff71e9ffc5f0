"""Server-side SVG charts for the stats page: no script, no inline style, no network (the strict CSP holds).

Each function returns an ``<svg>`` as `Markup`; colours come from classes in dashboard.css, every
text is escaped, and every chart carries a <title> and <desc> for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _frame(title: str, description: str, body: list[str], legend: Sequence[tuple[str, str]]) -> Markup:
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
        *body,
    ]
    x = LEFT
    for label, css in legend:
        parts.append(f'<rect class="{css}" x="{x}" y="2" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="11">{escape(label)}</text>')
        x += 14 + 8 * len(label) + 16
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def _axes(top: float, unit: str) -> list[str]:
    """Horizontal grid lines with their values, and the baseline."""
    body: list[str] = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        body.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        body.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}{unit}</text>'
        )
    return body


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    unit: str = "",
) -> Markup:
    """Grouped bars: one group per label, one bar per (name, css class, values) series."""
    top = _nice_max(max((v for _, _, values in series for v in values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    bar = slot * 0.8 / max(1, len(series))
    body = _axes(top, unit)
    for i, label in enumerate(labels):
        x0 = LEFT + slot * i + slot * 0.1
        for j, (name, css, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / top
            y = HEIGHT - BOTTOM - h
            body.append(
                f'<rect class="{css}" x="{x0 + bar * j:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(f'{name}, {label}: {_fmt(value)}{unit}')}</title></rect>"
            )
        if len(labels) <= 12 or i % max(1, len(labels) // 10) == 0:
            body.append(
                f'<text class="axis" x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    described = "; ".join(
        f"{name}: " + ", ".join(f"{label} {_fmt(v)}{unit}" for label, v in zip(labels, values, strict=True))
        for name, _, values in series
    )
    return _frame(title, described, body, [(name, css) for name, css, _ in series])


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    unit: str = "",
) -> Markup:
    """Lines over the labels (days); a missing value breaks the line."""
    top = _nice_max(max((v for _, _, values in series for v in values if v is not None), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels) - 1) if len(labels) > 1 else 0
    body = _axes(top, unit)
    for name, css, values in series:
        run: list[str] = []
        for i, value in enumerate([*values, None]):
            if value is None:
                if len(run) > 1:
                    body.append(f'<polyline class="{css}" points="{" ".join(run)}"/>')
                run = []
                continue
            x = LEFT + step * i if len(labels) > 1 else LEFT + plot_w / 2
            y = HEIGHT - BOTTOM - plot_h * value / top
            run.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="{css} dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(f'{name}, {labels[i]}: {_fmt(value)}{unit}')}</title></circle>"
            )
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            x = LEFT + step * i if len(labels) > 1 else LEFT + plot_w / 2
            body.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
            )
    described = "; ".join(
        f"{name}: "
        + ", ".join(
            f"{label} {'-' if v is None else _fmt(v) + unit}" for label, v in zip(labels, values, strict=True)
        )
        for name, _, values in series
    )
    return _frame(title, described, body, [(name, css) for name, css, _ in series])
