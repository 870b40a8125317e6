"""Next-morning reports: the patient's answer, the morning after a day's sessions, to "worse than before?".

A worse morning is red for progression (app.services.progression reads these reports). Worse mornings twice
in a row raise one routine alert and its event, exactly as the stop rule tells the patient ("if your
mornings are worse twice in a row, your physio will be told"). Reports may arrive late or out of order from
an app that was offline, so "in a row" is judged against the reports on either side of the day answered.
"""

import uuid
from datetime import date, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Code, Conflict, InvalidInput
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor
from app.models.next_morning import NextMorningReport, NextMorningResult, NextMorningUpsert
from app.models.programme import Programme
from app.models.safety_text import lines
from app.services import adherence, audit, programmes, progression, reviews

DAYS_BACK = 14
REASON = "worse_next_morning_twice"
RUN_DAYS = 60  # how far either side a run of worse mornings is followed


def report(session: Session, actor: Actor, day: date, data: NextMorningUpsert) -> NextMorningResult:
    today = adherence.today(actor.timezone or "UTC")
    if not today - timedelta(days=DAYS_BACK) <= day < today:
        raise InvalidInput(
            f"Answer for a day of sessions in the last {DAYS_BACK} days, before today.",
            code=Code.INVALID_DATE,
        )
    programme = programmes.my_current_programme(session, actor)
    if programme is None:
        raise Conflict("There is no current programme to report on.", code=Code.NO_PROGRAMME)
    stored = _store(session, actor, programme.id, day, data)
    audit.record(session, actor, "next_morning.report", "next_morning_report", stored.id, actor.id)
    alerted = data.response == "worse" and _worse_twice(session, actor, programme.id, stored)
    keys = ["easier_next_time", *(["physio_told"] if alerted else [])] if data.response == "worse" else []
    return NextMorningResult(
        date=day,
        response=data.response,
        instruction=lines(keys, actor.locale or DEFAULT_LOCALE),
        alert_raised=alerted,
    )


def _find(session: Session, actor: Actor, day: date) -> NextMorningReport | None:
    return session.exec(
        select(NextMorningReport).where(
            NextMorningReport.clinic_id == actor.clinic_id,
            NextMorningReport.patient_id == actor.id,
            NextMorningReport.session_date == day,
        )
    ).first()


def _store(
    session: Session, actor: Actor, programme_id: uuid.UUID, day: date, data: NextMorningUpsert
) -> NextMorningReport:
    """The answer for the day: a new row, or the last answer replacing an earlier one."""
    stored = _find(session, actor, day)
    if stored is None:
        try:
            with session.begin_nested():
                stored = NextMorningReport(
                    clinic_id=actor.clinic_id,
                    patient_id=actor.id,
                    programme_id=programme_id,
                    session_date=day,
                    response=data.response,
                )
                session.add(stored)
                session.flush()
            return stored
        except IntegrityError:  # the same answer sent twice at once: update the one stored
            stored = _find(session, actor, day)
            assert stored is not None
    stored.response, stored.reported_at = data.response, utcnow()
    session.add(stored)
    session.flush()
    return stored


def _worse_twice(session: Session, actor: Actor, programme_id: uuid.UUID, stored: NextMorningReport) -> bool:
    """This worse morning is part of a run of two or more (by day of sessions, whatever order the answers
    came in): tell the physio, once per run. True when the physio has been told of this run."""
    reports = list(
        session.exec(
            select(NextMorningReport)
            .where(
                NextMorningReport.clinic_id == actor.clinic_id,
                NextMorningReport.patient_id == actor.id,
                NextMorningReport.session_date >= stored.session_date - timedelta(days=RUN_DAYS),
                NextMorningReport.session_date <= stored.session_date + timedelta(days=RUN_DAYS),
            )
            .order_by(col(NextMorningReport.session_date))
        )
    )
    at = next(index for index, r in enumerate(reports) if r.id == stored.id)
    start, end = at, at
    while start > 0 and reports[start - 1].response == "worse":
        start -= 1
    while end + 1 < len(reports) and reports[end + 1].response == "worse":
        end += 1
    if end == start:
        return False
    run = reports[start : end + 1]
    key = f"{REASON}:{actor.id}:{run[0].session_date.isoformat()}"
    evidence = [str(r.id) for r in run]
    alert = reviews.raise_once(
        session, actor, actor.id, key, [REASON], evidence, source="next_morning", programme_id=programme_id
    )
    if alert is not None:
        programme = session.get(Programme, programme_id)
        if programme is not None:
            progression.step_back_after_worse_mornings(session, programme, [r.session_date for r in run])
    return reviews.raised(session, actor.clinic_id, key)
