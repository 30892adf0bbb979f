"""Bar charts drawn on the server as inline SVG: no JavaScript, no library, nothing
from a CDN, and under the strict CSP (no style attribute: each series is a class,
coloured in static/css). The table beside a chart is its accessible alternative,
so the SVG is one labelled image (role="img") with a title per bar for pointers.

Geometry only: the template (reports/_chart.html) draws what ``bar_chart`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

WIDTH = 720
HEIGHT = 260
LEFT = 64  # room for the value axis' labels
BOTTOM = 40  # room for the category labels
TOP = 12
RIGHT = 8


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass
class Tick:
    y: float
    label: str


@dataclass
class Label:
    x: float
    text: str


@dataclass
class Chart:
    title: str
    series: list[str]
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    baseline: float = 0.0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT

    @property
    def legend(self) -> list[tuple[int, str]]:
        return list(enumerate(self.series))


def _nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def bar_chart(
    title: str,
    categories: list[str],
    series: list[str],
    values: list[list[Decimal | int | None]],
    *,
    show=str,
    label_every: int = 1,
) -> Chart:
    """Grouped bars: ``values[i][j]`` is category i's value of series j (None: 0).
    Negative values hang below the baseline. ``show`` formats a value for the
    axis and the bars' titles (e.g. money)."""
    chart = Chart(title=title, series=series)
    numbers = [[float(v or 0) for v in row] for row in values]
    flat = [v for row in numbers for v in row] or [0.0]
    top, bottom = max(max(flat), 0.0), min(min(flat), 0.0)
    if top == bottom:
        top = bottom + 1
    step = _nice_step(top - bottom)
    top = step * math.ceil(top / step)
    bottom = step * math.floor(bottom / step)
    plot_height = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + (top - value) / (top - bottom) * plot_height

    chart.baseline = round(y_of(0), 1)
    tick = bottom
    while tick <= top + step / 2:
        chart.ticks.append(Tick(y=round(y_of(tick), 1), label=show(_as_number(tick))))
        tick += step
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    bar_width = max(slot * 0.8 / max(len(series), 1), 1.0)
    for i, category in enumerate(categories):
        x0 = LEFT + slot * i + slot * 0.1
        if i % label_every == 0:
            chart.labels.append(Label(x=round(LEFT + slot * (i + 0.5), 1), text=category))
        for j, name in enumerate(series):
            value = numbers[i][j] if j < len(numbers[i]) else 0.0
            y_top = y_of(max(value, 0.0))
            y_bottom = y_of(min(value, 0.0))
            chart.bars.append(
                Bar(
                    x=round(x0 + j * bar_width, 1),
                    y=round(y_top, 1),
                    width=round(bar_width, 1),
                    height=round(max(y_bottom - y_top, 0.0), 1),
                    series=j,
                    title=f"{category}, {name}: {show(values[i][j] or 0)}",
                )
            )
    return chart


def _as_number(value: float) -> Decimal | int:
    return int(value) if value == int(value) else Decimal(str(round(value, 2)))
