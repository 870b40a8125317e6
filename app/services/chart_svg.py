"""Draw a ProgressChart as one accessible SVG: stacked panels sharing the period's time axis.

A small renderer of our own on the standard library's ElementTree rather than a plotting library: the
charts are four simple kinds (lines by day, a step line of leg levels, weekly bars, scores with a dashed
line), and what matters is what a plotting library does not give: a `<title>` and a `<desc>` written in
the reader's language (the numbers in words, for screen readers), `role`/`aria` attributes, labels in the
locale, and output that is the same bytes for the same data (tests parse it). Matplotlib would add numpy and
a 1 s import to the service for none of that.

Pure: a ProgressChart and a locale in, SVG text out.
"""

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from app.models.print_text import CHART, LEG_LEVELS, OUTCOMES, RECALL, long_date, short_date, text
from app.models.progress_chart import OutcomeSeries, ProgressChart
from app.models.session_log import LEG_RANK

WIDTH = 760
PANEL = 200  # height of one panel: heading, plot, axis labels
_LEFT, _RIGHT = 92, 24  # room for the y labels (leg levels are words)
_PLOT_TOP, _PLOT_HEIGHT = 34, 120
_FONT = "Atkinson Hyperlegible, Arial, Helvetica, sans-serif"
_INK, _GRID, _MUTED = "#1a1a1a", "#d0d0d0", "#595959"
_DURING, _AFTER, _LEG, _BARS, _SCORE, _LINE = "#1f5fa8", "#b34700", "#6b3fa0", "#2e7d32", "#1f5fa8", "#b00020"
_LEVELS = sorted(LEG_RANK, key=LEG_RANK.__getitem__)


def _number(value: float, locale: str) -> str:
    """1 decimal at most, with the locale's decimal mark: "2.5", "2,5", "3"."""
    shown = f"{value:.1f}".removesuffix(".0")
    return shown.replace(".", ",") if locale.split("-")[0] != "en" else shown


class _Panel:
    """One panel: a heading, a plot area with a y scale, the period's x scale."""

    def __init__(self, root: ET.Element, index: int, heading: str, start: date, end: date) -> None:
        self.top = index * PANEL
        self.start, self.days = start, max((end - start).days, 1)
        self.width = WIDTH - _LEFT - _RIGHT
        self.group = ET.SubElement(root, "g", {"role": "group", "aria-label": heading})
        self.text(_LEFT, self.top + 20, heading, weight="bold", size=15)

    def x(self, day: date) -> float:
        return round(_LEFT + (day - self.start).days / self.days * self.width, 1)

    def y(self, value: float, top: float) -> float:
        return round(self.top + _PLOT_TOP + _PLOT_HEIGHT * (1 - value / top), 1)

    def text(self, x: float, y: float, words: str, anchor: str = "start", **style: object) -> None:
        attributes = {"x": str(x), "y": str(y), "text-anchor": anchor, "font-family": _FONT}
        attributes["font-size"] = str(style.get("size", 12))
        attributes["fill"] = str(style.get("colour", _INK))
        if "weight" in style:
            attributes["font-weight"] = str(style["weight"])
        ET.SubElement(self.group, "text", attributes).text = words

    def line(self, points: Sequence[tuple[float, float]], colour: str, dash: str | None = None) -> None:
        attributes = {
            "points": " ".join(f"{x},{y}" for x, y in points),
            "fill": "none",
            "stroke": colour,
            "stroke-width": "2.5",
        }
        if dash:
            attributes["stroke-dasharray"] = dash
        ET.SubElement(self.group, "polyline", attributes)

    def dots(self, points: Sequence[tuple[float, float]], colour: str) -> None:
        for x, y in points:
            ET.SubElement(self.group, "circle", {"cx": str(x), "cy": str(y), "r": "3.5", "fill": colour})

    def y_axis(self, ticks: Sequence[tuple[float, str]], top: float) -> None:
        for value, label in ticks:
            y = self.y(value, top)
            ET.SubElement(
                self.group,
                "line",
                {"x1": str(_LEFT), "x2": str(WIDTH - _RIGHT), "y1": str(y), "y2": str(y), "stroke": _GRID},
            )
            self.text(_LEFT - 6, y + 4, label, anchor="end", colour=_MUTED)

    def x_axis(self, locale: str) -> None:
        base = self.top + _PLOT_TOP + _PLOT_HEIGHT + 18
        for step in range(6):
            day = self.start + timedelta(days=round(step * self.days / 5))
            self.text(self.x(day), base, short_date(day, locale), anchor="middle", colour=_MUTED)

    def empty(self, words: str) -> None:
        self.text(WIDTH / 2, self.top + _PLOT_TOP + _PLOT_HEIGHT / 2, words, anchor="middle", colour=_MUTED)

    def describe(self, words: str) -> str:
        ET.SubElement(self.group, "desc").text = words
        return words


def _pain(panel: _Panel, chart: ProgressChart, locale: str) -> str:
    panel.y_axis([(v, str(v)) for v in (0, 2, 4, 6, 8, 10)], 10)
    panel.x_axis(locale)
    if not chart.pain:
        panel.empty(text(CHART, "no_data", locale))
        return panel.describe(text(CHART, "no_data", locale))
    during = [(panel.x(p.day), panel.y(p.during, 10)) for p in chart.pain]
    after = [(panel.x(p.day), panel.y(p.after, 10)) for p in chart.pain if p.after is not None]
    panel.line(during, _DURING)
    panel.dots(during, _DURING)
    if after:
        panel.line(after, _AFTER, dash="6 4")
        panel.dots(after, _AFTER)
    legend_x = WIDTH - _RIGHT - 190
    for offset, (key, colour, dash) in enumerate((("during", _DURING, None), ("after", _AFTER, "6 4"))):
        x = legend_x + offset * 95
        panel.line([(x, panel.top + 15), (x + 22, panel.top + 15)], colour, dash)
        panel.text(x + 27, panel.top + 19, text(CHART, key, locale), colour=_MUTED)
    first, last = chart.pain[0].during, chart.pain[-1].during
    return panel.describe(
        text(
            CHART,
            "pain_desc",
            locale,
            days=len(chart.pain),
            first=_number(first, locale),
            last=_number(last, locale),
        )
    )


def _leg(panel: _Panel, chart: ProgressChart, locale: str) -> str:
    top = len(_LEVELS) - 1
    panel.y_axis([(LEG_RANK[level], text(LEG_LEVELS, level, locale)) for level in _LEVELS], top)
    panel.x_axis(locale)
    if not chart.leg:
        panel.empty(text(CHART, "no_data", locale))
        return panel.describe(text(CHART, "no_data", locale))
    points = [(panel.x(p.day), panel.y(LEG_RANK[p.furthest], top)) for p in chart.leg]
    panel.line(points, _LEG)
    panel.dots(points, _LEG)
    first, last = (text(LEG_LEVELS, p.furthest, locale) for p in (chart.leg[0], chart.leg[-1]))
    return panel.describe(text(CHART, "leg_desc", locale, first=first, last=last))


def _weeks(panel: _Panel, chart: ProgressChart, locale: str) -> str:
    panel.y_axis([(v, f"{v}%") for v in (0, 25, 50, 75, 100)], 100)
    due, done = sum(w.due for w in chart.weeks), sum(w.done for w in chart.weeks)
    if not due:
        panel.empty(text(CHART, "no_data", locale))
        return panel.describe(text(CHART, "no_data", locale))
    slot = panel.width / len(chart.weeks)
    label_every = max(1, round(len(chart.weeks) / 8))
    for index, week in enumerate(chart.weeks):
        x = _LEFT + index * slot
        if week.due:
            percent = round(week.done / week.due * 100)
            y = panel.y(percent, 100)
            bar = {"x": str(round(x + slot * 0.15, 1)), "y": str(y), "width": str(round(slot * 0.7, 1))}
            bar |= {"height": str(round(panel.y(0, 100) - y, 1)), "fill": _BARS}
            ET.SubElement(panel.group, "rect", bar)
            panel.text(round(x + slot / 2, 1), y - 4, f"{percent}%", anchor="middle", size=11)
        if index % label_every == 0:
            base = panel.y(0, 100) + 18
            panel.text(
                round(x + slot / 2, 1),
                base,
                short_date(week.week_start, locale),
                anchor="middle",
                colour=_MUTED,
            )
    return panel.describe(
        text(CHART, "adherence_desc", locale, done=done, due=due, percent=round(done / due * 100))
    )


def _outcome_heading(series: OutcomeSeries, locale: str) -> str:
    heading = text(OUTCOMES, series.key, locale)
    return f"{heading}, {text(RECALL, series.recall, locale)}" if series.recall else heading


def _outcome(series: OutcomeSeries, locale: str) -> Callable[[_Panel, ProgressChart, str], str]:
    def draw(panel: _Panel, chart: ProgressChart, locale: str) -> str:
        top = series.top
        panel.y_axis([(top * share / 4, _number(top * share / 4, locale)) for share in range(5)], top)
        panel.x_axis(locale)
        name = _outcome_heading(series, locale)
        first, last = _number(series.points[0].value, locale), _number(series.points[-1].value, locale)
        if series.meaningful_at is not None:
            y = panel.y(series.meaningful_at, top)
            panel.line([(_LEFT, y), (WIDTH - _RIGHT, y)], _LINE, dash="8 5")
            label = text(CHART, "meaningful", locale)
            panel.text(WIDTH - _RIGHT - 4, y - 5, label, anchor="end", colour=_LINE, size=11)
        points = [(panel.x(p.day), panel.y(p.value, top)) for p in series.points]
        panel.line(points, _SCORE)
        panel.dots(points, _SCORE)
        if series.meaningful_at is None:
            return panel.describe(
                text(CHART, "outcome_desc_no_line", locale, name=name, first=first, last=last)
            )
        target = _number(series.meaningful_at, locale)
        return panel.describe(
            text(CHART, "outcome_desc", locale, name=name, first=first, last=last, target=target)
        )

    return draw


def _no_outcomes(panel: _Panel, chart: ProgressChart, locale: str) -> str:
    panel.empty(text(CHART, "no_outcomes", locale))
    return panel.describe(text(CHART, "no_outcomes", locale))


def render(chart: ProgressChart, locale: str) -> str:
    """The chart as SVG text, its words in ``locale`` (else English)."""
    panels: list[tuple[str, Callable[[_Panel, ProgressChart, str], str]]] = [
        (text(CHART, "pain", locale), _pain),
        (text(CHART, "leg", locale), _leg),
        (text(CHART, "adherence", locale), _weeks),
    ]
    panels += [(_outcome_heading(s, locale), _outcome(s, locale)) for s in chart.outcomes] or [
        (text(CHART, "no_outcomes", locale), _no_outcomes)
    ]
    height = PANEL * len(panels)
    root = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(WIDTH),
            "height": str(height),
            "viewBox": f"0 0 {WIDTH} {height}",
            "role": "img",
            "aria-labelledby": "chart-title chart-desc",
            "lang": locale,
        },
    )
    title = text(
        CHART, "title", locale, start=long_date(chart.start, locale), end=long_date(chart.end, locale)
    )
    ET.SubElement(root, "title", {"id": "chart-title"}).text = title
    description = ET.SubElement(root, "desc", {"id": "chart-desc"})
    ET.SubElement(root, "rect", {"width": str(WIDTH), "height": str(height), "fill": "#ffffff"})
    said = [
        f"{heading}: {draw(_Panel(root, index, heading, chart.start, chart.end), chart, locale)}"
        for index, (heading, draw) in enumerate(panels)
    ]
    description.text = " ".join(said)
    return ET.tostring(root, encoding="unicode")
