"""The black-box audit's findings (issue 19), each held by a test: F1 amplification, F2 lost phone, F3
lockout, F5 the audit read, F6 the email oracle, F9 NUL. F4, F7 and F8 are in test_webhooks_delivery.py
(they need a real receiver); docs/security.md lists them all."""

import json
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from app.config import get_settings
from app.db import utcnow
from app.models.audit import AuditEvent
from app.models.auth import RefreshToken
from app.models.patient import Patient
from app.models.webhook import Event
from tests.factories import PASSWORD, bearer, make_clinic, make_user
from tests.helpers import assert_oauth_error, assert_problem

# --- F1: a 422 is small whatever the request ---------------------------------------------------------


def test_a_body_of_thousands_of_unknown_keys_gets_a_short_answer(client, world):
    body = json.dumps({f"k{n}": n for n in range(60_000)}).encode()  # the audit's 769 KB
    assert len(body) < get_settings().max_body_bytes
    response = client.post(
        "/v1/patients",
        content=body,
        headers={**world.a.headers["physio"], "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation_error")
    assert len(problem["errors"]) == 20
    assert problem["errors_omitted"] >= 60_000 - 20  # and display_name is missing
    assert len(response.content) < 4096 < len(body)


def test_the_sign_in_routes_take_only_small_bodies(client):
    limit = get_settings().max_sign_in_body_bytes
    flood = json.dumps({f"k{n}": n for n in range(60_000)}).encode()  # 769 KB, the audit's body
    for path in ("/v1/patient-auth/enrol", "/v1/patient-auth/refresh", "/v1/auth/refresh"):
        response = client.post(path, content=flood, headers={"Content-Type": "application/json"})
        assert_problem(response, 413, "payload_too_large")
        assert len(response.content) < 1024
    # The limit is checked while streaming too, not only on Content-Length.
    chunks = (b" " * 1024 for _ in range(limit // 1024 + 2))
    streamed = client.post(
        "/v1/patient-auth/enrol", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413, "payload_too_large")
    # An ordinary sign-in fits with room to spare.
    assert_problem(client.post("/v1/patient-auth/enrol", json={"code": "ZZZZZZZZ"}), 401)


# --- F2: staff sign a lost phone out -----------------------------------------------------------------


def _enrol(client, world, **params) -> dict:
    issued = client.post(
        f"/v1/patients/{world.a.patient.id}/enrolment-codes", params=params, headers=world.a.headers["physio"]
    )
    assert issued.status_code == 201, issued.text
    enrolled = client.post("/v1/patient-auth/enrol", json={"code": issued.json()["code"]})
    assert enrolled.status_code == 200, enrolled.text
    return enrolled.json()


def _refresh(client, tokens: dict):
    return client.post("/v1/patient-auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def test_signing_a_patient_out_stops_every_device_at_once(client, world, session):
    phone, tablet = _enrol(client, world), _enrol(client, world, revoke_existing="false")
    rotated = _refresh(client, tablet).json()  # a rotated family is signed out too
    for tokens in (phone, rotated):
        assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 200

    other = client.post(f"/v1/patients/{world.a.patient.id}/sign-out", headers=world.b.headers["admin"])
    assert_problem(other, 404)  # another clinic's patient
    signed_out = client.post(f"/v1/patients/{world.a.patient.id}/sign-out", headers=world.a.headers["physio"])
    assert signed_out.status_code == 204, signed_out.text

    for tokens in (phone, rotated):
        assert_problem(client.get("/v1/me", headers=bearer(tokens["access_token"])), 401, "signed_out")
        assert_problem(_refresh(client, tokens), 401, "invalid_refresh_token")
    audit = session.exec(
        select(AuditEvent).where(
            AuditEvent.patient_id == world.a.patient.id, AuditEvent.action == "patient.sign_out"
        )
    ).all()
    assert [row.actor_id for row in audit] == [world.a.physio.id]  # the first code had no one to sign out
    event = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "patient.signed_out")
    ).one()
    assert event.data == {"patient_id": str(world.a.patient.id), "external_id": world.a.patient.external_id}
    session.commit()  # ends the read (SQLite: an open transaction would hold the write lock)
    # Enrolling again works, and the new device is signed in.
    assert client.get("/v1/me", headers=bearer(_enrol(client, world)["access_token"])).status_code == 200


def test_a_new_enrolment_code_signs_the_old_device_out_unless_asked_not_to(client, world):
    old = _enrol(client, world)
    kept = _enrol(client, world, revoke_existing="false")
    assert client.get("/v1/me", headers=bearer(old["access_token"])).status_code == 200
    _enrol(client, world)  # revoke_existing defaults to true
    for tokens in (old, kept):
        assert_problem(client.get("/v1/me", headers=bearer(tokens["access_token"])), 401, "signed_out")
        assert_problem(_refresh(client, tokens), 401, "invalid_refresh_token")


def test_a_patients_sign_in_has_an_absolute_end(client, world, session):
    tokens = _enrol(client, world)
    max_days = get_settings().patient_session_max_days
    first = session.exec(select(RefreshToken).where(RefreshToken.patient_id == world.a.patient.id)).all()
    family_end = max(row.family_expires_at for row in first)
    assert timedelta(days=max_days - 1) < family_end - utcnow() <= timedelta(days=max_days)
    # Rotation never carries a token past the family's end: move the end close, then rotate.
    for row in first:
        row.family_expires_at = utcnow() + timedelta(minutes=5)
        session.add(row)
    session.commit()
    rotated = _refresh(client, tokens)
    assert rotated.status_code == 200, rotated.text
    session.expire_all()
    newest = session.exec(
        select(RefreshToken)
        .where(RefreshToken.patient_id == world.a.patient.id)
        .order_by(RefreshToken.created_at.desc())
    ).first()
    assert newest.expires_at <= utcnow() + timedelta(minutes=5)
    newest.expires_at = newest.family_expires_at = utcnow() - timedelta(seconds=1)
    session.add(newest)
    session.commit()
    assert_problem(_refresh(client, rotated.json()), 401, "refresh_token_expired")


# --- F3: a guesser cannot lock the owner out ---------------------------------------------------------


def _login(client, email, password=PASSWORD):
    return client.post("/v1/auth/token", data={"username": email, "password": password})


def _from(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def test_the_owner_signs_in_while_someone_else_guesses(app, session):
    user = make_user(session, make_clinic(session))
    session.commit()
    suffix = uuid.uuid4().int % 250 + 1
    guesser, owner, second = (_from(app, f"10.{n}.0.{suffix}") for n in (1, 2, 3))
    limit = get_settings().login_max_failures_per_account
    for _ in range(limit):
        assert_oauth_error(_login(guesser, user.email, "guess"), 400, "invalid_grant", "invalid_credentials")
    # The owner, from an address that has not failed, is let in with the right password.
    assert _login(owner, user.email).status_code == 200
    # The guesser's address now waits, the right password or not: 1 s after its last failure.
    slowed = assert_oauth_error(_login(guesser, user.email, "guess"), 429, "temporarily_unavailable")
    assert slowed["code"] == "rate_limited"
    # A fresh address gets one guess; then the wait doubles with every failure on the account.
    assert_oauth_error(_login(second, user.email, "guess"), 400, "invalid_grant", "invalid_credentials")
    again = _login(second, user.email, "guess")
    assert_oauth_error(again, 429, "temporarily_unavailable", "rate_limited")
    assert int(again.headers["Retry-After"]) == 2
    # And the owner still gets in.
    assert _login(owner, user.email).status_code == 200


# --- F5: reading the audit trail is audited ----------------------------------------------------------


def test_reading_the_audit_trail_is_itself_audited(client, world, session):
    headers = world.a.headers["admin"]
    assert client.get("/v1/audit-events", headers=headers).status_code == 200
    reads = client.get(
        "/v1/audit-events", params={"patient_id": str(world.a.patient.id)}, headers=headers
    ).json()["items"]
    assert all(row["action"] != "audit_event.list" or row["patient_id"] is not None for row in reads)
    rows = session.exec(
        select(AuditEvent).where(
            AuditEvent.clinic_id == world.a.clinic.id, AuditEvent.action == "audit_event.list"
        )
    ).all()
    assert len(rows) == 2 and {row.actor_id for row in rows} == {world.a.admin.id}
    assert {row.patient_id for row in rows} == {None, world.a.patient.id}


# --- F6: one clinic cannot learn which emails another uses -------------------------------------------


def test_creating_a_user_never_tells_one_clinic_another_clinics_emails(client, world):
    body = {"email": world.b.physio.email, "name": "Same Person", "role": "physio", "password": PASSWORD * 2}
    created = client.post("/v1/users", json=body, headers=world.a.headers["admin"])
    assert created.status_code == 201, created.text
    # In the clinic that has it, the email is taken.
    body["email"] = world.a.physio.email
    assert_problem(client.post("/v1/users", json=body, headers=world.a.headers["admin"]), 409, "email_taken")


def test_one_email_at_two_clinics_signs_in_to_the_account_its_password_opens(client, world):
    email = world.b.physio.email
    body = {"email": email, "name": "Same Person", "role": "physio", "password": "another password 123"}
    assert client.post("/v1/users", json=body, headers=world.a.headers["admin"]).status_code == 201
    at_b = client.get("/v1/patients", headers=bearer(_login(client, email).json()["access_token"]))
    assert [p["id"] for p in at_b.json()["items"]] == [str(world.b.patient.id)]
    token = _login(client, email, "another password 123").json()["access_token"]
    at_a = client.get("/v1/patients", headers=bearer(token))
    assert str(world.a.patient.id) in [p["id"] for p in at_a.json()["items"]]
    assert str(world.b.patient.id) not in [p["id"] for p in at_a.json()["items"]]


def test_the_same_password_at_two_clinics_needs_the_clinic(client, world):
    email = world.b.physio.email
    body = {"email": email, "name": "Same Person", "role": "physio", "password": PASSWORD}
    assert client.post("/v1/users", json=body, headers=world.a.headers["admin"]).status_code == 201
    # The token endpoint answers as RFC 6749 says (invalid_request), with the service's own code beside it.
    assert_oauth_error(_login(client, email), 400, "invalid_request", "clinic_required")
    chosen = client.post(
        "/v1/auth/token", data={"username": email, "password": PASSWORD, "client_id": world.a.clinic.slug}
    )
    assert chosen.status_code == 200, chosen.text
    at_a = client.get("/v1/patients", headers=bearer(chosen.json()["access_token"])).json()["items"]
    assert str(world.a.patient.id) in [p["id"] for p in at_a]


# --- F9: NUL is refused everywhere, on both databases ------------------------------------------------


def test_nul_is_refused_in_every_kind_of_text(client, world, session, unique):
    headers = world.a.headers["physio"]
    json_headers = {**headers, "Content-Type": "application/json"}
    refused = [
        client.post("/v1/patients", json={"display_name": f"{unique}\u0000Lee"}, headers=headers),
        client.post("/v1/patients", json={"display_name": unique, "external_id": "\x00"}, headers=headers),
        # Escaped backslashes before it do not hide it.
        client.post("/v1/patients", content=rb'{"display_name": "a\\\u0000"}', headers=json_headers),
        client.put("/v1/patients/by-external-id/MRN%00X", json={"display_name": unique}, headers=headers),
        client.get("/v1/exercises", params={"q": "bridge\x00"}, headers=headers),
        client.post("/v1/auth/token", data={"username": "a\x00@example.org", "password": "x"}),
    ]
    for response in refused:
        assert_problem(response, 422, "invalid_value")
    assert session.exec(select(Patient).where(Patient.display_name.like(f"{unique}%"))).all() == []
    session.commit()  # ends the read (SQLite: an open transaction would hold the write lock)
    # The text "\u0000" (an escaped backslash, then u0000) is not a NUL and is stored as written.
    kept = client.post("/v1/patients", content=rb'{"display_name": "a\\u0000"}', headers=json_headers)
    assert kept.status_code == 201, kept.text
    assert kept.json()["display_name"] == "a\\u0000"
