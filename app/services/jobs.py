"""The periodic jobs and their leases: each job runs once per period per clinic, however many runners.

A period is a day in the clinic's time zone (the daily jobs) or a quarter of an hour (the missed-day
check, which looks at each patient's own evening time). The runner (app/scheduler.py) claims a period's
run by inserting its `job_run` row, or by taking over a row whose lease ran out (the runner that held it
crashed or hung), in a short transaction of its own. It then works through the clinic's patients with an
active programme a page at a time, each page a transaction of its own (on SQLite a transaction holds the
one write lock: a clinic of thousands must not hold it for the whole run), and marks the row finished in
the last page's transaction, only if the row is still its own; a runner whose run was taken over stops
at its next page. The work is idempotent (an event once per programme per 7 days, one `missed_day` row
per day, one review alert per key), so pages redone by the runner that took over do nothing twice.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, update
from sqlmodel import Session, col, select

from app import store
from app.models.auth import EnrolmentCode, RefreshToken
from app.models.clinic import Clinic
from app.models.jobs import JobRun
from app.models.programme import Programme
from app.services import adherence, idempotency, missed_days, reviews

logger = logging.getLogger("hep.jobs")

# Expired credentials are kept this long (a late refresh then still reads "expired", not "unknown").
PRUNE_AFTER = timedelta(days=7)
# Finished runs are kept two days: enough to look at what ran (the quarter-hourly job adds 96 a day).
JOB_RUNS_KEPT = timedelta(days=2)
QUARTER_HOUR = timedelta(minutes=15)

Cadence = Literal["daily", "quarter_hour"]


@dataclass(frozen=True)
class ClinicClock:
    id: uuid.UUID
    timezone: str


@dataclass(frozen=True)
class Job:
    name: str
    cadence: Cadence
    # Does the clinic's work for the period that holds `now`, for a page of the patients with an active
    # programme (or once, with no ids, when not `per_patient`); returns how many things it did.
    run: Callable[[Session, ClinicClock, datetime, list[uuid.UUID]], int]
    unit: str = "done"
    per_patient: bool = True

    def period(self, clinic: ClinicClock, now: datetime) -> str:
        if self.cadence == "daily":
            return now.astimezone(ZoneInfo(clinic.timezone)).date().isoformat()
        now = now.astimezone(UTC)
        floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        return floor.strftime("%Y-%m-%dT%H:%M")


def _adherence_low(session: Session, clinic: ClinicClock, now: datetime, patients: list[uuid.UUID]) -> int:
    return adherence.check_low_adherence(session, now, clinic.id, patients)


def _missed_days(session: Session, clinic: ClinicClock, now: datetime, patients: list[uuid.UUID]) -> int:
    return missed_days.nudge(session, clinic.id, now, patients)


def _review_prompts(session: Session, clinic: ClinicClock, now: datetime, patients: list[uuid.UUID]) -> int:
    return reviews.review_stalled(session, clinic.id, now, patients)


def _prune(session: Session, clinic: ClinicClock, now: datetime, _: list[uuid.UUID]) -> int:
    """Refresh tokens and enrolment codes past their expiry, idempotency keys past their 24 hours, and the
    clinic's old job runs."""
    removed = idempotency.prune(session, clinic.id, now)
    for table, expiry in ((RefreshToken, RefreshToken.expires_at), (EnrolmentCode, EnrolmentCode.expires_at)):
        result = session.execute(
            delete(table).where(col(table.clinic_id) == clinic.id, col(expiry) < now - PRUNE_AFTER)
        )
        removed += result.rowcount  # type: ignore[attr-defined]
    session.execute(
        delete(JobRun).where(
            col(JobRun.clinic_id) == clinic.id,
            col(JobRun.finished_at).is_not(None),
            col(JobRun.started_at) < now - JOB_RUNS_KEPT,
        )
    )
    return removed


JOBS: tuple[Job, ...] = (
    Job("adherence_low", "daily", _adherence_low, "emitted"),
    Job("missed_day", "quarter_hour", _missed_days, "emitted"),
    Job("review_prompts", "daily", _review_prompts, "raised"),
    Job("prune", "daily", _prune, "credentials and keys removed", per_patient=False),
)


def active_patients(session: Session, clinic_id: uuid.UUID) -> list[uuid.UUID]:
    """The clinic's patients with an active programme, in id order: what the per-patient jobs page through."""
    return list(
        session.exec(
            select(Programme.patient_id)
            .where(Programme.clinic_id == clinic_id, Programme.status == "active")
            .distinct()
            .order_by(col(Programme.patient_id))
        ).all()
    )


def clinics(session: Session, ids: list[uuid.UUID] | None = None) -> list[ClinicClock]:
    statement = select(Clinic.id, Clinic.timezone).order_by(col(Clinic.id))
    if ids is not None:
        statement = statement.where(col(Clinic.id).in_(ids))
    return [ClinicClock(id, timezone) for id, timezone in session.exec(statement)]


def unfinished(
    session: Session, clocks: list[ClinicClock], now: datetime, jobs: tuple[Job, ...] = JOBS
) -> list[tuple[ClinicClock, Job, str]]:
    """The (clinic, job, period) runs that the periods holding `now` still need."""
    wanted = [(clinic, job, job.period(clinic, now)) for clinic in clocks for job in jobs]
    periods = {period for _, _, period in wanted}
    done = set(
        session.exec(
            select(JobRun.clinic_id, JobRun.job, JobRun.period).where(
                col(JobRun.clinic_id).in_([clinic.id for clinic in clocks]),
                col(JobRun.job).in_([job.name for job in jobs]),
                col(JobRun.period).in_(periods),
                col(JobRun.finished_at).is_not(None),
            )
        ).all()
    )
    return [
        (clinic, job, period) for clinic, job, period in wanted if (clinic.id, job.name, period) not in done
    ]


_TABLE = JobRun.__table__  # type: ignore[attr-defined]
_INSERT_NEW = store.InsertNew(_TABLE)


def _unfinished_run(clinic_id: uuid.UUID, job: str, period: str) -> ColumnElement[bool]:
    return and_(
        col(JobRun.clinic_id) == clinic_id,
        col(JobRun.job) == job,
        col(JobRun.period) == period,
        col(JobRun.finished_at).is_(None),
    )


def claim(
    session: Session,
    clinic_id: uuid.UUID,
    job: str,
    period: str,
    runner: str,
    lease: timedelta,
    now: datetime,
) -> bool:
    """Take the period's run: a new row, or a lease that ran out before the run finished. The caller
    commits at once, so the other runners see it."""
    connection = session.connection()
    row = JobRun(clinic_id=clinic_id, job=job, period=period, runner=runner, leased_until=now + lease)
    values = {column.name: getattr(row, column.name) for column in _TABLE.columns}
    values["started_at"] = now
    if _INSERT_NEW(connection, values):
        return True
    taken = session.execute(
        update(JobRun)
        .where(_unfinished_run(clinic_id, job, period), col(JobRun.leased_until) < now)
        .values(runner=runner, leased_until=now + lease, attempts=col(JobRun.attempts) + 1)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def holds(session: Session, clinic_id: uuid.UUID, job: str, period: str, runner: str) -> bool:
    """Whether the run is still this runner's (between pages: a runner whose lease was taken stops)."""
    found = session.exec(
        select(JobRun.id).where(_unfinished_run(clinic_id, job, period), col(JobRun.runner) == runner)
    ).first()
    return found is not None


def finish(
    session: Session, clinic_id: uuid.UUID, job: str, period: str, runner: str, outcome: str, now: datetime
) -> bool:
    """Mark the run finished, in the transaction that holds the job's work; False if another runner took
    the lease meanwhile (the caller then rolls its work back)."""
    result = session.execute(
        update(JobRun)
        .where(_unfinished_run(clinic_id, job, period), col(JobRun.runner) == runner)
        .values(finished_at=now, outcome=outcome[:200])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
