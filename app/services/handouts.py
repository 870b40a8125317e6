"""The printable handout: which revision a caller may print, in the patient's language, audited as a read.

Rendered from the typed programme view (app.services.programme_view), the same rendering the patient app
reads, so the paper and the phone say the same thing; the layout is app.services.handout_pdf.
"""

import functools
import uuid

from sqlmodel import Session

from app.errors import NotFound
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.handout import Handout, Paper
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeRevision
from app.models.programme_view import ExerciseView
from app.services import (
    adherence,
    audit,
    handout_pdf,
    illustrations,
    patients,
    programme_view,
    programmes,
)


def exercise_picture(session: Session, exercise: ExerciseView) -> bytes | None:
    """The picture printed with an exercise, as SVG bytes: its illustration in the text's language (the
    same drawing the app shows, app.services.illustrations); None prints the block without one (an
    exercise deleted since the revision was written). The one place the handout takes pictures from."""
    try:
        return illustrations.exercise_picture(session, exercise.id, exercise.locale).data
    except NotFound:
        return None


def clinic_handout(
    session: Session, actor: Actor, programme: Programme, number: int | None, paper: Paper
) -> bytes:
    """A revision of one of the clinic's programmes (its current one by default); NotFound for a revision
    it does not have."""
    found = (
        programmes.latest_revision(session, programme)
        if number is None
        else programmes.revision_by_number(session, programme, number)
    )
    patient = patients.get_patient(session, actor, programme.patient_id)
    return _render(session, actor, programme, found, patient, paper)


def my_handout(session: Session, actor: Actor, programme_id: uuid.UUID, paper: Paper) -> bytes:
    """The current revision of one of the patient's own programmes (never a draft)."""
    programme = programmes.get_programme(session, actor, programme_id)
    patient = patients.get_patient(session, actor, actor.id)
    return _render(session, actor, programme, programmes.latest_revision(session, programme), patient, paper)


def _render(
    session: Session,
    actor: Actor,
    programme: Programme,
    revision: ProgrammeRevision,
    patient: Patient,
    paper: Paper,
) -> bytes:
    clinic = session.get(Clinic, programme.clinic_id)
    assert clinic is not None  # the programme's clinic: a foreign key
    audit.record(
        session,
        actor,
        "programme.handout",
        "programme",
        programme.id,
        patient.id,
        f"revision {revision.number}",
    )
    handout = Handout(
        clinic_name=clinic.name,
        patient_name=patient.display_name,
        revision_date=adherence.today(patient.timezone, revision.created_at),
        printed_on=adherence.today(patient.timezone),
        view=programme_view.render(revision.snapshot, patient.locale),
    )
    return handout_pdf.render(handout, paper, functools.partial(exercise_picture, session))
