"""Clients generated from the live OpenAPI document run the real flows against a real server:
openapi-python-client (physio, patient app, EHR) and openapi-typescript + openapi-fetch under Node
(`tsc --strict`, the patient app). docs/api.md gives the same commands."""

import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
BIN = Path(sys.executable).parent


def _programme_body() -> dict:
    items = [{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}]
    return {"title": "Generated", "start_date": "2026-11-02", "phases": [{"name": "Phase 1", "items": items}]}


@pytest.fixture(scope="module")
def openapi_url(live_server) -> str:
    """The live document's URL, asked for once first: the server builds the document on its first request,
    which on a loaded machine takes longer than a generator waits (openapi-python-client: 5 s)."""
    url = f"{live_server}/openapi.json"
    assert httpx.get(url, timeout=120).status_code == 200
    return url


@pytest.fixture(scope="module")
def hep_client(openapi_url, tmp_path_factory):
    out = tmp_path_factory.mktemp("python-client")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # its ruff post-hooks
    command = [
        str(BIN / "openapi-python-client"),
        "generate",
        "--url",
        openapi_url,
        "--meta",
        "none",
        "--output-path",
        str(out / "hep_client"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every operation and schema was understood
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("hep_client")
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.split(".")[0] == "hep_client"]:
            del sys.modules[name]


def test_python_client_runs_the_physio_patient_and_ehr_flows(hep_client, live_server, world):
    from hep_client import AuthenticatedClient, Client
    from hep_client.api.auth import create_staff_token, enrol_patient
    from hep_client.api.fhir import fhir_read_care_plan, fhir_read_patient
    from hep_client.api.patient_app import create_symptom_check, get_my_programme, log_my_sessions
    from hep_client.api.patients import create_enrolment_code, create_patient, upsert_patient
    from hep_client.api.programmes import activate_programme, create_programme
    from hep_client.models import (
        EnrolRequest,
        OAuthError,
        PatientCreate,
        PatientUpsert,
        ProgrammeCreate,
        ProgrammePublic,
        ProgrammeView,
        SessionBatchCreate,
        SymptomCheckCreate,
        TokenPair,
        TokenRequest,
    )

    anonymous = Client(base_url=live_server)
    # Physio: sign in (OAuth2 form), create a patient, create and activate a programme, enrol.
    wrong = create_staff_token.sync(
        client=anonymous, body=TokenRequest(username=world.a.physio.email, password="not it")
    )
    assert isinstance(wrong, OAuthError) and wrong.error == "invalid_grant"
    tokens = create_staff_token.sync(
        client=anonymous, body=TokenRequest(username=world.a.physio.email, password=PASSWORD)
    )
    assert isinstance(tokens, TokenPair)
    physio = AuthenticatedClient(base_url=live_server, token=tokens.access_token)
    patient = create_patient.sync(client=physio, body=PatientCreate(display_name="Generated client"))
    programme = create_programme.sync(
        patient.id, client=physio, body=ProgrammeCreate.from_dict(_programme_body())
    )
    assert isinstance(programme, ProgrammePublic) and programme.status == "draft"
    assert activate_programme.sync(programme.id, client=physio).status == "active"
    code = create_enrolment_code.sync(patient.id, client=physio).code

    # Patient app: enrol, fetch (and revalidate), log a batch, symptom check.
    patient_tokens = enrol_patient.sync(client=anonymous, body=EnrolRequest(code=code))
    app = AuthenticatedClient(base_url=live_server, token=patient_tokens.access_token)
    read = get_my_programme.sync_detailed(programme.id, client=app)
    view = read.parsed
    assert read.status_code == 200 and isinstance(view, ProgrammeView) and view.title == "Generated"
    assert (
        get_my_programme.sync_detailed(
            programme.id, client=app, if_none_match=read.headers["etag"]
        ).status_code
        == 304
    )
    item = view.phases[0].items[0]
    log = {
        "id": str(uuid.uuid4()),
        "programme_id": str(programme.id),
        "item_id": str(item.id),
        "revision": view.revision,
        "performed_at": datetime.now(UTC).isoformat(),
        "sets_done": 1,
        "pain_during": 1,
        "leg_symptoms": "none",
        "response": "same",
    }
    batch = log_my_sessions.sync(client=app, body=SessionBatchCreate.from_dict({"logs": [log]}))
    assert [result.status for result in batch.results] == [201]
    check = create_symptom_check.sync(client=app, body=SymptomCheckCreate.from_dict({"answers": {}}))
    assert check.recorded is True

    # EHR: upsert by its own id with the API key, read the programme and the patient as FHIR.
    ehr = AuthenticatedClient(base_url=live_server, token=world.a.api_key)
    external_id = f"MRN-{uuid.uuid4().hex[:8]}"
    upserted = upsert_patient.sync(external_id, client=ehr, body=PatientUpsert(display_name="From the EHR"))
    assert upserted.external_id == external_id
    care_plan = fhir_read_care_plan.sync(programme.id, client=ehr)
    assert care_plan.additional_properties["status"] == "active"
    assert care_plan.additional_properties["subject"]["reference"] == f"Patient/{patient.id}"
    assert fhir_read_patient.sync(patient.id, client=ehr).id == str(patient.id)
    # A FHIR "not found" is the declared OperationOutcome, parsed (it raised KeyError: 'type' before).
    missing = fhir_read_care_plan.sync_detailed(uuid.uuid4(), client=ehr)
    assert missing.status_code == 404
    assert missing.parsed.to_dict()["resourceType"] == "OperationOutcome"


@pytest.fixture
def typescript_run():
    npx = shutil.which("npx")
    if npx is None or not (CONTRACT / "node_modules" / ".bin" / "tsc").exists():
        pytest.fail("Node tools missing: `make test` installs them (npm ci in contract/)")
    run = CONTRACT / f".run-{uuid.uuid4().hex[:8]}"
    run.mkdir()
    try:
        yield npx, run
    finally:
        shutil.rmtree(run)


def test_typescript_client_type_checks_strictly_and_runs_the_patient_flow(
    typescript_run, openapi_url, live_server, world, client
):
    npx, run = typescript_run
    headers = world.b.headers["physio"]
    programme = client.post(
        f"/v1/patients/{world.b.patient.id}/programmes", json=_programme_body(), headers=headers
    )
    assert programme.status_code == 201, programme.text
    programme_id = programme.json()["id"]
    assert client.post(f"/v1/programmes/{programme_id}/activate", headers=headers).status_code == 200
    code = client.post(f"/v1/patients/{world.b.patient.id}/enrolment-codes", headers=headers).json()["code"]

    def npx_run(*args: str) -> str:
        done = subprocess.run(
            [npx, "--no-install", *args], cwd=CONTRACT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    npx_run("openapi-typescript", openapi_url, "--output", f"{run.name}/schema.d.ts")
    shutil.copy(CONTRACT / "patient-flow.ts", run / "patient-flow.ts")
    (run / "inputs.ts").write_text(
        f"export const baseUrl = {json.dumps(live_server)};\n"
        f"export const enrolmentCode = {json.dumps(code)};\n"
        f"export const programmeId = {json.dumps(programme_id)};\n"
    )
    npx_run(
        "tsc",
        "--strict",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--lib",
        "es2022,dom",
        "--outDir",
        f"{run.name}/js",
        f"{run.name}/patient-flow.ts",
        f"{run.name}/inputs.ts",
    )
    done = subprocess.run(
        ["node", str(run / "js" / "patient-flow.js")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "patient": str(world.b.patient.id),
        "title": "Generated",
        "phases": 1,
        "notModified": 304,
        "planItems": 1,
        "logged": [201],
        "tier": result["tier"],
    }
    assert result["tier"] is None  # no red flag answered: the all-clear
