"""The hour chart's geometry: stacked per minute, scaled to the busiest minute, described for screen readers."""

from __future__ import annotations

from relay.dashboard import chart


def test_bars_stack_per_minute_and_the_busiest_minute_fills_the_height() -> None:
    series = {"kie": [0] * 60, "generic": [0] * 60}
    series["kie"][59], series["generic"][59], series["generic"][0] = 3, 1, 2

    drawn = chart.stacked("Callbacks per minute", series, chart.provider_colors(["kie", "generic"]))

    now = [bar for bar in drawn.bars if bar.x > chart.WIDTH - chart.SLOT]
    assert drawn.peak == 4
    assert [bar.title for bar in now] == ["generic: 1 (this minute)", "kie: 3 (this minute)"]
    assert sum(bar.height for bar in now) == chart.HEIGHT - 4
    assert now[1].y + now[1].height == now[0].y  # kie sits on top of generic
    assert drawn.summary == "Callbacks per minute, last hour: generic 3, kie 3"
    assert [bar.title for bar in drawn.bars if bar.x < chart.SLOT] == ["generic: 2 (59 min ago)"]


def test_an_empty_hour_draws_nothing_and_says_so() -> None:
    drawn = chart.stacked("Deliveries per minute", {}, chart.STATUS_COLORS, order=chart.STATUS_ORDER)

    assert (drawn.bars, drawn.peak) == ([], 0)
    assert drawn.summary == "Deliveries per minute: nothing in the last hour"
