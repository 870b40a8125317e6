"""Shared set-up for the logging, adherence and safety tests: an active programme and log bodies."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session

from app.models.programme import Programme, ProgrammeRevision


def draft_programme(client, tenant, items=None, start_date="2026-11-02"):
    items = items or [
        {
            "exercise": "double-leg-bridge",
            "sets": 2,
            "reps": 10,
            "times_per_day": 2,
            "days_of_week": [1, 3, 5],
        },
        {"exercise": "cat-camel", "reps": 6, "times_per_day": 1},
    ]
    body = {"title": "Home plan", "start_date": start_date, "phases": [{"name": "One", "items": items}]}
    created = client.post(
        f"/v1/patients/{tenant.patient.id}/programmes", json=body, headers=tenant.headers["physio"]
    )
    assert created.status_code == 201, created.text
    return created.json()


def active_programme(client, tenant, items=None, start_date="2026-11-02", backdate: datetime | None = None):
    draft = draft_programme(client, tenant, items, start_date)
    programme = client.post(f"/v1/programmes/{draft['id']}/activate", headers=tenant.headers["physio"]).json()
    if backdate is not None:
        from app.db import get_engine

        with Session(get_engine()) as session:
            backdate_activation(session, programme, backdate)
            session.commit()
    return programme


def backdate_activation(session: Session, programme, moment: datetime) -> None:
    """Make a programme look active since `moment`: its revisions and its activation."""
    programme_id = uuid.UUID(programme["id"])
    session.execute(
        update(ProgrammeRevision)
        .where(ProgrammeRevision.programme_id == programme_id)
        .values(created_at=moment)
    )
    session.execute(update(Programme).where(Programme.id == programme_id).values(activated_at=moment))


def item_ids(programme) -> list[str]:
    return [item["id"] for item in programme["phases"][0]["items"]]


def log_body(programme, item_id, performed_at: str, **fields):
    return {
        "id": str(uuid.uuid4()),
        "programme_id": programme["id"],
        "item_id": item_id,
        "revision": programme["revision"],
        "performed_at": performed_at,
        "sets_done": 2,
        "reps_done": [10, 10],
        "pain_during": 2,
        "pain_after": 1,
        "leg_symptoms": "none",
        "response": "same",
        **fields,
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def document_of(programme):
    """The editable document of a programme as the API returned it (ids kept)."""
    keep = (
        "sets",
        "reps",
        "reps_max",
        "hold_s",
        "rest_s",
        "duration_s",
        "load",
        "side",
        "times_per_day",
        "days_of_week",
        "notes",
        "progression_rule",
        "clinician_unlocked",
    )
    return {
        "title": programme["title"],
        "start_date": programme["start_date"],
        "end_date": programme["end_date"],
        "auto_progress": programme["auto_progress"],
        "current_phase": programme["current_phase"],
        "phases": [
            {
                "name": phase["name"],
                "goal": phase["goal"],
                "advance_criteria": phase["advance_criteria"],
                "items": [
                    {"id": it["id"], "exercise": it["exercise_slug"], **{k: it[k] for k in keep}}
                    for it in phase["items"]
                ],
            }
            for phase in programme["phases"]
        ],
    }
