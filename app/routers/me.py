"""The patient app's own view."""

from fastapi import APIRouter

from app.deps import PatientActor, SessionDep
from app.models.patient import PatientPublic
from app.services import patients

router = APIRouter(prefix="/v1/me", tags=["patient app"])


@router.get("", response_model=PatientPublic)
def me(session: SessionDep, actor: PatientActor):
    patient = patients.get_patient(session, actor, actor.id)
    patients.read_patient(session, actor, patient)
    session.commit()
    return patient
