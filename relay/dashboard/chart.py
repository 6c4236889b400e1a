"""Stacked bar charts as plain geometry, drawn by the templates as inline SVG (no chart library, works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 120
SLOT = WIDTH / 60
PALETTE = ("#4263eb", "#0ca678", "#f59f00", "#ae3ec9", "#1098ad", "#e8590c", "#74b816", "#d6336c")
STATUS_COLORS = {"succeeded": "#2f9e44", "pending": "#adb5bd", "failed": "#f59f00", "dead": "#e03131"}
STATUS_ORDER = tuple(STATUS_COLORS)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    color: str
    total: int


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: list[Bar]
    legend: list[Series]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def summary(self) -> str:
        """What a screen reader says instead of the picture."""
        if not self.legend:
            return f"{self.title}: nothing in the last hour"
        parts = ", ".join(f"{series.name} {series.total}" for series in self.legend)
        return f"{self.title}, last hour: {parts}"


def stacked(title: str, series: dict[str, list[int]], colors: dict[str, str], order: Sequence[str] = ()) -> Chart:
    """One bar per minute (60 values per series), series stacked in ``order`` (then by name)."""
    names = [name for name in order if name in series] + sorted(name for name in series if name not in order)
    peak = max((sum(series[name][minute] for name in names) for minute in range(60)), default=0)
    scale = (HEIGHT - 4) / peak if peak else 0.0
    bars: list[Bar] = []
    for minute in range(60):
        base = float(HEIGHT)
        ago = 59 - minute
        for name in names:
            value = series[name][minute]
            if not value:
                continue
            height = max(value * scale, 1.5)
            base -= height
            when = "this minute" if ago == 0 else f"{ago} min ago"
            bars.append(Bar(minute * SLOT + 1, base, SLOT - 2, height, colors[name], f"{name}: {value} ({when})"))
    legend = [Series(name, colors[name], sum(series[name])) for name in names]
    return Chart(title=title, bars=bars, legend=legend, peak=peak)


def provider_colors(names: Sequence[str]) -> dict[str, str]:
    """A stable color per provider: by its position among all known providers."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(sorted(names))}
