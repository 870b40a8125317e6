import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.deps import ClinicActor, PageDep, PatientDep, SessionDep, SettingsDep
from app.models.auth import EnrolmentCodePublic
from app.models.common import Page, QueryBool
from app.models.patient import PatientCreate, PatientPublic, PatientUpdate, PatientUpsert
from app.routing import UnitOfWorkRoute
from app.services import auth, patients

router = APIRouter(prefix="/v1/patients", tags=["patients"], route_class=UnitOfWorkRoute)

ExternalId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("", response_model=Page[PatientPublic])
def list_patients(
    session: SessionDep,
    actor: ClinicActor,
    page: PageDep,
    external_id: Annotated[str | None, Query(max_length=128)] = None,
):
    return patients.list_patients(session, actor, page, external_id)


@router.post("", response_model=PatientPublic, status_code=status.HTTP_201_CREATED)
def create_patient(body: PatientCreate, session: SessionDep, actor: ClinicActor):
    patient = patients.create_patient(session, actor, body)
    return patient


@router.put(
    "/by-external-id/{external_id}",
    response_model=PatientPublic,
    responses={201: {"model": PatientPublic, "description": "The patient was created"}},
)
def upsert_patient(
    external_id: ExternalId, body: PatientUpsert, response: Response, session: SessionDep, actor: ClinicActor
):
    patient, created = patients.upsert_by_external_id(session, actor, external_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return patient


@router.get("/{patient_id}", response_model=PatientPublic)
def get_patient(patient_id: uuid.UUID, patient: PatientDep, session: SessionDep, actor: ClinicActor):
    patients.read_patient(session, actor, patient)
    return patient


@router.patch("/{patient_id}", response_model=PatientPublic)
def update_patient(
    patient_id: uuid.UUID, body: PatientUpdate, patient: PatientDep, session: SessionDep, actor: ClinicActor
):
    patients.update_patient(session, actor, patient, body)
    return patient


@router.post(
    "/{patient_id}/enrolment-codes", response_model=EnrolmentCodePublic, status_code=status.HTTP_201_CREATED
)
def create_enrolment_code(
    patient_id: uuid.UUID,
    patient: PatientDep,
    session: SessionDep,
    settings: SettingsDep,
    actor: ClinicActor,
    revoke_existing: Annotated[
        QueryBool, Query(description="Sign out the devices enrolled so far (a lost or replaced phone)")
    ] = True,
):
    code, expires_at = auth.issue_enrolment_code(
        session, settings, actor, patient, revoke_existing=revoke_existing
    )
    return EnrolmentCodePublic(code=code, patient_id=patient.id, expires_at=expires_at)


@router.post("/{patient_id}/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(patient_id: uuid.UUID, patient: PatientDep, session: SessionDep, actor: ClinicActor) -> Response:
    """Sign every device of the patient out at once: refresh tokens revoked, access tokens refused."""
    auth.sign_out_patient(session, actor, patient)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
