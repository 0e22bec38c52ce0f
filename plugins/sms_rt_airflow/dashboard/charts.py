"""Charts as inline SVG, drawn on the server: no JavaScript, no external asset, testable as text.

Every chart is an ``<svg class="chart" data-chart="<kind>" data-points="<n>" role="img">`` with a
``<title>``; each data mark has ``class="mark"``, ``data-label`` and ``data-value`` (the exact figure)
and a ``<title>`` tooltip. A chart without data says so instead of drawing empty axes. Labels are
escaped; values are numbers. Colours are attributes, so a chart also reads outside the page's CSS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

from sms_rt_airflow.dashboard.formatting import count, number, points

Format = Callable[[float], str]
PALETTE = ("#017cee", "#e5731a", "#0f9d76", "#c2366b", "#7b61ff", "#5f6b7a")
GRID, AXIS, INK, MUTED = "#e3e8ef", "#9aa5b1", "#1f2933", "#52606d"
TEXT = 'font-size="12" fill="{}"'


def _n(value: float) -> str:
    """A compact SVG coordinate."""
    return f"{value:.1f}".removesuffix(".0")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (an axis end)."""
    if value <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(value))
    return float(next(m * step for m in (1, 2, 2.5, 5, 10) if value <= m * step * (1 + 1e-9)))


def axis_top(value: float) -> float:
    """The top of a four-step axis whose steps are round numbers (0, 10, 20, 30, 40)."""
    return 4 * nice_ceiling(value / 4)


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(kind: str, label: str, width: float, height: float, marks: int, body: str) -> Markup:
    return Markup(
        f'<svg class="chart chart-{kind}" data-chart="{kind}" data-points="{marks}" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" font-family="system-ui, sans-serif"><title>{escape(label)}</title>{body}</svg>'
    )


def _empty(kind: str, label: str, width: float = 560, height: float = 60) -> Markup:
    body = (f'<text x="{_n(width / 2)}" y="{_n(height / 2 + 4)}" text-anchor="middle" {TEXT.format(MUTED)}>'
            "No data yet</text>")
    return _svg(kind, label, width, height, 0, body)


def _mark(shape: str, attrs: str, label: str, value: float, shown: str) -> str:
    return (f'<{shape} class="mark" data-label="{escape(label)}" data-value="{value!r}" {attrs}>'
            f"<title>{escape(label)}: {escape(shown)}</title></{shape}>")


Items = Sequence[tuple[str, Any]]  # (label, figure); a missing figure (None, NaN) is left out


def _values(items: Items) -> list[tuple[str, float]]:
    return [(str(k), v) for k, v in ((k, number(v)) for k, v in items) if v is not None]


def hbars(items: Items, *, label: str, fmt: Format = count, width: float = 560,
          color: str = PALETTE[0]) -> Markup:
    """Horizontal bars, one per item, longest scale at the largest value (links, actions, failures…)."""
    data = _values(items)
    if not data:
        return _empty("hbars", label, width)
    row, right = 26, 90
    left = min(340, 16 + 7.8 * max(len(_short(name, 44)) for name, _ in data))
    width = max(width, left + right + 240)
    top = max(v for _, v in data)
    scale = (width - left - right) / (top or 1)
    parts = []
    for i, (name, value) in enumerate(data):
        y = 6 + i * row
        parts.append(f'<text x="{_n(left - 8)}" y="{_n(y + 14)}" text-anchor="end" {TEXT.format(INK)}>'
                     f"{escape(_short(name, 44))}</text>")
        bar = f'x="{_n(left)}" y="{_n(y + 2)}" width="{_n(max(value * scale, 1.5))}" height="{row - 8}" rx="2"'
        parts.append(_mark("rect", f'{bar} fill="{color}"', name, value, fmt(value)))
        parts.append(f'<text x="{_n(left + value * scale + 6)}" y="{_n(y + 14)}" {TEXT.format(MUTED)}>'
                     f"{escape(fmt(value))}</text>")
    return _svg("hbars", label, width, 12 + row * len(data), len(data), "".join(parts))


def funnel(stages: Items, *, label: str, width: float = 560) -> Markup:
    """Centred bars from the first stage down; each says its count and its share of the first stage."""
    data = _values(stages)
    if not data or data[0][1] <= 0:
        return _empty("funnel", label, width)
    row, left, right = 34, 120, 120
    first = data[0][1]
    span = width - left - right
    parts = []
    for i, (name, value) in enumerate(data):
        y = 6 + i * row
        w = max(span * value / first, 2.0)
        x = left + (span - w) / 2
        shade = PALETTE[min(i, len(PALETTE) - 1)]
        parts.append(f'<text x="{left - 10}" y="{_n(y + 18)}" text-anchor="end" {TEXT.format(INK)}>'
                     f"{escape(name)}</text>")
        parts.append(_mark("rect", f'x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{row - 8}" rx="3" '
                           f'fill="{shade}"', name, value, count(value)))
        share = f"{count(value)} · {value / first * 100:.1f} %"
        parts.append(f'<text x="{_n(width - right + 10)}" y="{_n(y + 18)}" {TEXT.format(MUTED)}>'
                     f"{escape(share)}</text>")
    return _svg("funnel", label, width, 8 + row * len(data), len(data), "".join(parts))


def _y_axis(top: float, x0: float, x1: float, y0: float, height: float, fmt: Format) -> str:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = y0 - height * i / 4
        parts.append(f'<line x1="{_n(x0)}" x2="{_n(x1)}" y1="{_n(y)}" y2="{_n(y)}" stroke="{GRID}"/>')
        parts.append(f'<text x="{_n(x0 - 6)}" y="{_n(y + 4)}" text-anchor="end" {TEXT.format(MUTED)}>'
                     f"{escape(fmt(value))}</text>")
    return "".join(parts)


def columns(items: Items, *, label: str, fmt: Format = count, width: float = 560,
            height: float = 200, color: str = PALETTE[0]) -> Markup:
    """Vertical columns in the given order (time-to-response buckets, hour of day)."""
    data = _values(items)
    if not data:
        return _empty("columns", label, width)
    left, bottom, top_pad = 48, 34, 12
    top = axis_top(max(v for _, v in data))
    plot_h = height - bottom - top_pad
    slot = (width - left - 8) / len(data)
    y0 = height - bottom
    parts = [_y_axis(top, left, width - 8, y0, plot_h, fmt)]
    every = max(1, math.ceil(len(data) / 12))
    for i, (name, value) in enumerate(data):
        h = plot_h * value / top
        x = left + i * slot + slot * 0.15
        parts.append(_mark("rect", f'x="{_n(x)}" y="{_n(y0 - h)}" width="{_n(slot * 0.7)}" height="{_n(h)}" '
                           f'fill="{color}"', name, value, fmt(value)))
        if i % every == 0:
            parts.append(f'<text x="{_n(x + slot * 0.35)}" y="{_n(y0 + 16)}" text-anchor="middle" '
                         f'{TEXT.format(MUTED)}>{escape(_short(name, 10))}</text>')
    return _svg("columns", label, width, height, len(data), "".join(parts))


def lines(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[Any]]], *, label: str,
          fmt: Format = count, width: float = 640, height: float = 220) -> Markup:
    """One line per series over shared x labels (days), with a legend; a missing value breaks the line."""
    drawn = [(name, [number(v) for v in values]) for name, values in series]
    known = [v for _, values in drawn for v in values if v is not None]
    if not x_labels or not known:
        return _empty("lines", label, width)
    left, bottom, top_pad = 48, 40, 26
    top = axis_top(max(known))
    plot_w, plot_h = width - left - 40, height - bottom - top_pad
    y0 = height - bottom
    step = plot_w / max(len(x_labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i * step if len(x_labels) > 1 else plot_w / 2)
        return x, y0 - plot_h * v / top

    parts = [_y_axis(top, left, left + plot_w, y0, plot_h, fmt)]
    every = max(1, math.ceil(len(x_labels) / 8))
    for i, name in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            x, _ = xy(i, 0)
            parts.append(f'<text x="{_n(x)}" y="{_n(y0 + 16)}" text-anchor="middle" {TEXT.format(MUTED)}>'
                         f"{escape(name)}</text>")
    marks = 0
    for s, (name, values) in enumerate(drawn):
        color = PALETTE[s % len(PALETTE)]
        segment: list[str] = []
        for i, v in enumerate([*values, None]):
            if v is None:
                if len(segment) > 1:
                    pts = " ".join(segment)
                    parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
                segment = []
                continue
            x, y = xy(i, v)
            segment.append(f"{_n(x)},{_n(y)}")
            parts.append(_mark("circle", f'cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{color}"',
                               f"{name} {x_labels[i]}", v, fmt(v)))
            marks += 1
        lx = left + s * 150
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" rx="2" fill="{color}"/>'
                     f'<text x="{lx + 18}" y="16" {TEXT.format(INK)}>{escape(name)}</text>')
    return _svg("lines", label, width, height, marks, "".join(parts))


def sparkline(values: Sequence[Any], *, label: str, width: float = 120, height: float = 28) -> Markup:
    """A small trend without axes; the last point is marked."""
    data = [number(v) or 0.0 for v in values]
    if not data:
        return _empty("sparkline", label, width, height)
    top = max(data) or 1.0
    step = (width - 6) / max(len(data) - 1, 1)
    coords = [(3 + i * step, height - 3 - (height - 6) * v / top) for i, v in enumerate(data)]
    pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)
    x, y = coords[-1]
    body = (f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{pts}"/>'
            + _mark("circle", f'cx="{_n(x)}" cy="{_n(y)}" r="2.5" fill="{PALETTE[0]}"', "latest", data[-1],
                    count(data[-1])))
    return _svg("sparkline", label, width, height, len(data), body)


def intervals(rows: Sequence[tuple[str, Any, Any, Any]], *, label: str,
              fmt: Format = points, width: float = 680) -> Markup:
    """Point estimates with their interval around a zero line (lift over the holdout)."""
    known = [(str(n), number(v), number(lo), number(hi)) for n, v, lo, hi in rows]
    data = [(n, v, lo, hi) for n, v, lo, hi in known if v is not None and lo is not None and hi is not None]
    if not data:
        return _empty("intervals", label, width)
    row, left, right = 34, 120, 235
    reach = nice_ceiling(max(max(abs(lo), abs(hi), abs(v)) for _, v, lo, hi in data))
    span = width - left - right
    height = 30 + row * len(data)

    def x(v: float) -> float:
        return left + span * (v + reach) / (2 * reach)

    parts = [f'<line x1="{_n(x(0))}" x2="{_n(x(0))}" y1="4" y2="{_n(height - 22)}" stroke="{AXIS}" '
             'stroke-dasharray="4 3"/>']
    for v in (-reach, 0.0, reach):
        parts.append(f'<text x="{_n(x(v))}" y="{_n(height - 6)}" text-anchor="middle" {TEXT.format(MUTED)}>'
                     f"{escape(fmt(v))}</text>")
    for i, (name, v, lo, hi) in enumerate(data):
        y = 18 + i * row
        color = PALETTE[2] if lo > 0 else PALETTE[3] if hi < 0 else PALETTE[5]
        parts.append(f'<text x="{left - 10}" y="{_n(y + 4)}" text-anchor="end" {TEXT.format(INK)}>'
                     f"{escape(name)}</text>")
        parts.append(f'<line x1="{_n(x(lo))}" x2="{_n(x(hi))}" y1="{_n(y)}" y2="{_n(y)}" stroke="{color}" '
                     'stroke-width="3" stroke-linecap="round"/>')
        parts.append(_mark("circle", f'cx="{_n(x(v))}" cy="{_n(y)}" r="5" fill="{color}"', name, v,
                           f"{fmt(v)} ({fmt(lo)} to {fmt(hi)})"))
        parts.append(f'<text x="{_n(width - right + 10)}" y="{_n(y + 4)}" {TEXT.format(MUTED)}>'
                     f"{escape(fmt(v))} ({escape(fmt(lo))} to {escape(fmt(hi))})</text>")
    return _svg("intervals", label, width, height, len(data), "".join(parts))
