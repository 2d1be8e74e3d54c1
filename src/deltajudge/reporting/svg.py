"""Charts for the HTML report, written as small hand-made inline SVG.

No plotting library: the page must open offline from ``file://`` and stay small, and
three chart kinds (dot-and-whisker, grouped histogram, scatter) need a few dozen lines
each. Every text that reaches the SVG goes through `markupsafe.escape`; colours come from
CSS classes (``m0``, ``m1``, …) so the page's stylesheet, not the data, decides them and no
``style`` attribute is needed under the page's Content-Security-Policy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_W = 480  # viewBox width; the page scales it to the column
_LABEL_W = 90  # narrowest left gutter for row labels
_PAD = 12
_ROW_H = 24


@dataclass(frozen=True)
class Interval:
    """One dot-and-whisker row: a mean (or delta) and its confidence interval."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    css: str


@dataclass(frozen=True)
class Series:
    """One model's values on one chart: scores for histograms, (length, score) for scatters."""

    label: str
    css: str
    values: Sequence[float]
    xs: Sequence[float] = ()


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values from at or below ``low`` to at or above ``high``.

    Axes then read 0, 1, 2 or −0.5, 0, 0.5 rather than 0.13, 0.97, and a chart's domain
    can be widened to its first and last tick.
    """
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    first = math.floor(low / step + 1e-9) * step
    steps = round(math.ceil(high / step - 1e-9) - first / step)
    return [round(first + i * step, 10) for i in range(steps + 1)]


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _open(height: float, testid: str, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {_W} {height:.0f}" role="img" '
        f'data-testid="{escape(testid)}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


class _Scale:
    """Linear map from data to pixels."""

    def __init__(self, lo: float, hi: float, lo_px: float, hi_px: float) -> None:
        self.lo, self.hi, self.lo_px, self.hi_px = lo, hi, lo_px, hi_px

    def __call__(self, v: float) -> float:
        span = self.hi - self.lo or 1.0
        return self.lo_px + (v - self.lo) / span * (self.hi_px - self.lo_px)


def _x_axis(ticks: Sequence[float], x: _Scale, y: float, bottom: float, name: str = "") -> str:
    parts = []
    for t in ticks:
        px = x(t)
        parts.append(
            f'<line class="grid" x1="{px:.1f}" x2="{px:.1f}" y1="{y:.0f}" y2="{bottom:.0f}"/>'
            f'<text class="tick" x="{px:.1f}" y="{bottom + 13:.0f}">{escape(_fmt(t))}</text>'
        )
    if name:
        mid = (x.lo_px + x.hi_px) / 2
        parts.append(
            f'<text class="axis" x="{mid:.0f}" y="{bottom + 27:.0f}">{escape(name)}</text>'
        )
    return "".join(parts)


def dot_whisker(
    rows: Sequence[Interval],
    domain: tuple[float, float],
    *,
    testid: str,
    title: str,
    zero_line: bool = False,
    axis: str = "",
) -> Markup:
    """Means (or deltas) as dots with 95% CI whiskers, one row per model or comparison.

    With ``zero_line`` a dashed line marks "no change": a whisker that does not cross it
    is a change the same prompts would most likely show again.
    """
    values = [v for r in rows for v in (r.value, r.low, r.high) if v is not None]
    lo, hi = min([domain[0], *values]), max([domain[1], *values])  # an interval may overhang
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    top, bottom = _PAD, _PAD + _ROW_H * len(rows)
    label_w = min(_W / 2, max([_LABEL_W, *(16 + 7.5 * len(r.label) for r in rows)]))
    x = _Scale(lo, hi, label_w, _W - _PAD)
    parts = [_open(bottom + (40 if axis else 26), testid, title)]
    parts.append(_x_axis(ticks, x, top, bottom, axis))
    if zero_line and lo <= 0 <= hi:
        parts.append(
            f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{bottom}"/>'
        )
    for i, row in enumerate(rows):
        cy = top + _ROW_H * i + _ROW_H / 2
        parts.append(
            f'<g class="{escape(row.css)}"><text class="label" x="{label_w - 8:.0f}" '
            f'y="{cy + 4:.0f}">{escape(row.label)}</text>'
        )
        if row.low is not None and row.high is not None:
            x1, x2 = x(row.low), x(row.high)
            parts.append(
                f'<path class="whisker" d="M{x1:.1f} {cy:.1f}H{x2:.1f}M{x1:.1f} {cy - 5:.1f}'
                f'v10M{x2:.1f} {cy - 5:.1f}v10"/>'
            )
        if row.value is not None:
            parts.append(f'<circle class="dot" cx="{x(row.value):.1f}" cy="{cy:.1f}" r="5"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _bins(series: Sequence[Series], domain: tuple[float, float]) -> list[tuple[float, float]]:
    """One bin per score on small integer scales (0–4), else ten equal bins."""
    lo, hi = domain
    values = [v for s in series for v in s.values]
    if hi - lo <= 10 and all(float(v).is_integer() for v in values):
        return [(float(v), float(v)) for v in range(math.floor(lo), math.ceil(hi) + 1)]
    step = (hi - lo) / 10 or 1.0
    return [(lo + i * step, lo + (i + 1) * step) for i in range(10)]


def _bin_index(v: float, bins: Sequence[tuple[float, float]]) -> int:
    for i, (a, b) in enumerate(bins):
        if a == b == v or a <= v < b:
            return i
    return len(bins) - 1 if v >= bins[-1][0] else 0


def histogram(
    series: Sequence[Series], domain: tuple[float, float], *, testid: str, title: str
) -> Markup:
    """Score distributions, models side by side per bin, as a share of each model's answers.

    Shares rather than counts, so a model with more errors (fewer scores) still compares.
    """
    bins = _bins(series, domain)
    height, base, top = 190.0, 150.0, 12.0
    counts = []
    for s in series:
        row = [0] * len(bins)
        for v in s.values:
            row[_bin_index(v, bins)] += 1
        counts.append(row)
    peak = max((c / max(1, len(s.values)) for s, r in zip(series, counts, strict=True) for c in r),
               default=0.0) or 1.0  # fmt: skip
    y_ticks = nice_ticks(0, peak, 4)
    y = _Scale(0, y_ticks[-1], base, top)
    left, slot = 40.0, (_W - 40.0 - _PAD) / len(bins)
    bar = slot * 0.8 / max(1, len(series))
    parts = [_open(height, testid, title)]
    for t in y_ticks:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{_W - _PAD}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text class="tick end" x="{left - 4}" y="{y(t) + 4:.1f}">{t:.0%}</text>'
        )
    for b, (a, z) in enumerate(bins):
        cx = left + slot * (b + 0.5)
        label = _fmt(a) if a == z else f"{_fmt(a)}–{_fmt(z)}"
        parts.append(f'<text class="tick" x="{cx:.1f}" y="{base + 14}">{escape(label)}</text>')
        for k, (s, row) in enumerate(zip(series, counts, strict=True)):
            share = row[b] / max(1, len(s.values))
            bx = left + slot * b + slot * 0.1 + bar * k
            parts.append(
                f'<rect class="{escape(s.css)}" x="{bx:.1f}" y="{y(share):.1f}" width="{bar:.1f}" '
                f'height="{base - y(share):.1f}"><title>{escape(s.label)}: {row[b]} '
                f"({share:.0%})</title></rect>"
            )
    parts.append(f'<text class="axis" x="{_W / 2:.0f}" y="{base + 32}">score</text></svg>')
    return Markup("".join(parts))


def scatter(
    series: Sequence[Series], y_domain: tuple[float, float], *, testid: str, title: str
) -> Markup:
    """Answer length (x) against score (y): does the judge simply reward longer answers?

    Each model's points are one ``<path>`` of zero-length round-capped segments, about ten
    bytes a point, so 2,000 cases stay light. Scores on a 0–4 scale sit on five lines, so
    points are spread a little vertically (deterministically) to show how many there are.
    """
    height, left, top, bottom = 236.0, 40.0, 18.0, 196.0
    xs = [v for s in series for v in s.xs] or [0.0, 1.0]
    x_ticks = nice_ticks(min(xs), max(max(xs), min(xs) + 10))  # whole characters
    x = _Scale(x_ticks[0], x_ticks[-1], left, _W - _PAD)
    y = _Scale(y_domain[0], y_domain[1], bottom - 8, top + 8)
    spread = abs(y(1) - y(0)) * 0.3 if y_domain[1] - y_domain[0] <= 10 else 0.0
    parts = [
        _open(height, testid, title),
        _x_axis(x_ticks, x, top, bottom, "answer length (characters)"),
        f'<text class="axis end" x="{left - 6}" y="{top - 6}">score</text>',
    ]
    for t in nice_ticks(*y_domain):
        parts.append(f'<text class="tick end" x="{left - 6}" y="{y(t) + 4:.1f}">{_fmt(t)}</text>')
    for k, s in enumerate(series):
        d = []
        for i, (xv, yv) in enumerate(zip(s.xs, s.values, strict=True)):
            jitter = (((i * 7919 + k * 104729) % 97) / 96 - 0.5) * spread
            d.append(f"M{x(xv):.0f} {y(yv) + jitter:.0f}h0")
        parts.append(f'<path class="pts {escape(s.css)}" d="{"".join(d)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
