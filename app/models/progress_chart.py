"""What a progress chart shows: the numbers behind `GET /v1/me/progress.svg` and the staff's chart."""

from datetime import date

from pydantic import BaseModel, ConfigDict

from app.models.session_log import LegSymptoms

FROZEN = ConfigDict(frozen=True)


class PainPoint(BaseModel):
    model_config = FROZEN

    day: date
    during: float  # mean pain during the day's sessions, NPRS 0–10
    after: float | None  # mean pain after them, where logged


class LegPoint(BaseModel):
    model_config = FROZEN

    day: date
    furthest: LegSymptoms  # the furthest down the leg the symptoms reached after any session that day


class WeekPoint(BaseModel):
    model_config = FROZEN

    week_start: date
    due: int
    done: int


class OutcomePoint(BaseModel):
    model_config = FROZEN

    day: date
    value: float


class OutcomeSeries(BaseModel):
    """One score over time (an instrument; NPRS per site and recall period) and its meaningful-change line."""

    model_config = FROZEN

    key: str  # "nprs.back", "nprs.leg", "odi", "rmdq", "psfs"
    recall: str | None  # NPRS: "now", "worst_24h" or "average_24h"
    top: float  # the scale's maximum (its minimum is 0)
    baseline: float  # the first response of the series, whenever it was
    meaningful_at: (
        float | None
    )  # the score that is a meaningful improvement on the baseline; None: none can be
    points: list[OutcomePoint]


class ProgressChart(BaseModel):
    model_config = FROZEN

    start: date
    end: date
    pain: list[PainPoint]
    leg: list[LegPoint]
    weeks: list[WeekPoint]
    outcomes: list[OutcomeSeries]
