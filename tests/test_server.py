"""`make run` end to end: a real uvicorn process on 127.0.0.1, a fresh database, the demo clinic.

It follows the README walk-through: sign in with the printed credentials, create a patient, enrol the
demo patient with the printed code.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.services import patient_app
from tests import dbutil
from tests.helpers import free_port, hep_serve

REPO = Path(__file__).resolve().parents[1]
HEP = str(Path(sys.executable).parent / "hep")


@pytest.fixture
def server(tmp_path):
    url = dbutil.create_database(os.environ.get("HEP_TEST_DATABASE_URL"), tmp_path / "run.db")
    env = {
        **os.environ,
        "HEP_DATABASE_URL": url,
        "HEP_ENV": "dev",
        "HEP_DEMO": "1",
        "HEP_PORT": str(free_port()),
    }
    for command in (["migrate"], ["seed"]):
        done = subprocess.run([HEP, *command], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    log = tmp_path / "serve.log"
    try:
        with hep_serve(env, log, cwd=REPO) as served:
            yield served.url, log
    finally:
        dbutil.drop_database(url)


def _exported(log_text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip("'") for m in re.finditer(r"export (\w+)=(\S+)", log_text)}


def test_make_run_serves_and_the_walkthrough_works(server):
    base, log = server
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    values = _exported(log.read_text())
    assert {
        "ADMIN_EMAIL",
        "ADMIN_PASSWORD",
        "PHYSIO_EMAIL",
        "PHYSIO_PASSWORD",
        "ENROLMENT_CODE",
        "PATIENT_ID",
    } <= values.keys()

    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post(
            "/v1/auth/token", data={"username": values["PHYSIO_EMAIL"], "password": values["PHYSIO_PASSWORD"]}
        )
        assert token.status_code == 200, token.text
        staff = {"Authorization": f"Bearer {token.json()['access_token']}"}
        patient = http.get(f"/v1/patients/{values['PATIENT_ID']}", headers=staff)
        assert patient.status_code == 200 and patient.json()["display_name"] == "Demo Patient"
        created = http.post(
            "/v1/patients", json={"display_name": "Sam", "timezone": "Europe/London"}, headers=staff
        )
        assert created.status_code == 201, created.text

        exercises = http.get("/v1/exercises", params={"q": "puente", "locale": "es"}, headers=staff)
        assert exercises.status_code == 200 and exercises.json()["items"][0]["locale"] == "es"
        programme = http.post(
            f"/v1/patients/{values['PATIENT_ID']}/programmes",
            headers=staff,
            json={
                "title": "Low back pain: start",
                "start_date": "2026-11-23",
                "phases": [
                    {
                        "name": "Settle",
                        "items": [
                            {"exercise": "prone-lying-over-pillows", "duration_s": 120, "times_per_day": 4},
                            {
                                "exercise": "double-leg-bridge",
                                "sets": 2,
                                "reps": 10,
                                "hold_s": 3,
                                "days_of_week": [1, 3, 5],
                            },
                        ],
                    }
                ],
            },
        )
        assert programme.status_code == 201, programme.text
        programme_id = programme.json()["id"]
        assert (
            http.post(f"/v1/programmes/{programme_id}/activate", headers=staff).json()["status"] == "active"
        )

        enrolled = http.post("/v1/patient-auth/enrol", json={"code": values["ENROLMENT_CODE"]})
        assert enrolled.status_code == 200, enrolled.text
        me = http.get("/v1/me", headers={"Authorization": f"Bearer {enrolled.json()['access_token']}"})
        assert me.json()["id"] == values["PATIENT_ID"]
        patient = {"Authorization": f"Bearer {enrolled.json()['access_token']}"}
        mine = http.get(f"/v1/me/programmes/{programme_id}", headers=patient)
        tag = f'"2.en.{patient_app.TEXT_VERSION}"'
        assert mine.status_code == 200 and mine.headers["ETag"] == tag
        assert (
            http.get(
                f"/v1/me/programmes/{programme_id}", headers={**patient, "If-None-Match": tag}
            ).status_code
            == 304
        )
        assert http.get("/docs").status_code == 200
        assert http.get("/openapi.json").json()["info"]["title"]

    # The server logs one JSON line per request, with its request id, and no patient data: not the name
    # just registered, not the search query.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "hep.request"]
    assert len(requests) >= 10 and all(len(line["request_id"]) == 32 for line in requests)
    assert {"method": "POST", "route": "/v1/patients", "status": 201} in [
        {key: line[key] for key in ("method", "route", "status")} for line in requests
    ]
    logged = json.dumps(lines)
    assert "Sam" not in logged and "puente" not in logged and "Demo Patient" not in logged


def test_a_burst_of_patient_requests_is_served_without_errors(server):
    """32 clients at once on the real server: on SQLite every request takes the write lock, and without
    queueing before the thread pool the server stalled until busy_timeout (found by `make bench`)."""
    import threading
    import uuid
    from datetime import UTC, datetime

    base, log = server
    values = _exported(log.read_text())
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post(
            "/v1/auth/token", data={"username": values["PHYSIO_EMAIL"], "password": values["PHYSIO_PASSWORD"]}
        )
        staff = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = {
            "title": "Burst",
            "start_date": "2026-11-02",
            "phases": [{"name": "One", "items": [{"exercise": "cat-camel", "reps": 6, "times_per_day": 12}]}],
        }
        programme = http.post(
            f"/v1/patients/{values['PATIENT_ID']}/programmes", json=body, headers=staff
        ).json()
        programme = http.post(f"/v1/programmes/{programme['id']}/activate", headers=staff).json()
        enrolled = http.post("/v1/patient-auth/enrol", json={"code": values["ENROLMENT_CODE"]}).json()
    patient = {"Authorization": f"Bearer {enrolled['access_token']}"}
    item_id = programme["phases"][0]["items"][0]["id"]
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30, headers=patient) as http:
            for _ in range(5):
                got = [http.get("/v1/me/plan").status_code]
                log_body = {
                    "id": str(uuid.uuid4()),
                    "programme_id": programme["id"],
                    "item_id": item_id,
                    "revision": programme["revision"],
                    "performed_at": datetime.now(UTC).isoformat(),
                    "sets_done": 1,
                    "pain_during": 2,
                    "leg_symptoms": "none",
                    "response": "same",
                }
                got.append(http.post("/v1/me/sessions", json=log_body).status_code)
                with lock:
                    statuses.extend(got)

    threads = [threading.Thread(target=client) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 32 * 5 * 2
    assert set(statuses) <= {200, 201}, sorted(set(statuses))


def test_the_first_app_to_start_in_a_process_freezes_the_startup_heap():
    """A full garbage collection walked every object built at startup (~220,000) and paused the event
    loop ~180 ms, the p99 of every route under load (docs/performance.md). Once an app has started, they
    are frozen: the collector walks only what was made since, and garbage made before was collected."""
    probe = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        "from app.main import create_app\n"
        "before = gc.get_freeze_count()\n"
        "with TestClient(create_app()) as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "    print(before, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=os.environ, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, frozen, walked = (int(number) for number in done.stdout.split())
    assert before == 0
    assert frozen > 100_000, frozen  # the app's modules, metadata, routes and schemas
    assert walked < frozen / 5, (walked, frozen)  # what a full collection still walks
