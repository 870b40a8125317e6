from tests.helpers import assert_problem


def test_admin_creates_lists_reads_and_updates_users(client, world, unique):
    headers = world.a.headers["admin"]
    created = client.post(
        "/v1/users",
        json={"email": f"New.{unique}@Example.org", "name": "New Physio", "password": "long enough pass"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == f"new.{unique}@example.org"
    assert user["role"] == "physio" and user["active"] is True
    assert "password_hash" not in user and "password" not in user

    listed = client.get("/v1/users", headers=headers).json()["items"]
    assert user["id"] in {u["id"] for u in listed}
    assert {u["clinic_id"] for u in listed} == {str(world.a.clinic.id)}

    patched = client.patch(f"/v1/users/{user['id']}", json={"name": "Renamed"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed" and patched.json()["role"] == "physio"
    assert client.get(f"/v1/users/{user['id']}", headers=headers).json()["name"] == "Renamed"


def test_new_password_works(client, world):
    headers = world.a.headers["admin"]
    response = client.patch(
        f"/v1/users/{world.a.physio.id}", json={"password": "a brand new secret"}, headers=headers
    )
    assert response.status_code == 200
    login = client.post(
        "/v1/auth/token", data={"username": world.a.physio.email, "password": "a brand new secret"}
    )
    assert login.status_code == 200


def test_duplicate_email_is_409(client, world):
    # Within the clinic; another clinic's email is no conflict (tests/test_security_findings.py, F6).
    response = client.post(
        "/v1/users",
        json={"email": world.a.physio.email.upper(), "name": "Dup", "password": "long enough pass"},
        headers=world.a.headers["admin"],
    )
    assert_problem(response, 409, "email_taken")


def test_last_admin_cannot_be_demoted_or_deactivated(client, world):
    headers = world.a.headers["admin"]
    assert_problem(
        client.patch(f"/v1/users/{world.a.admin.id}", json={"role": "physio"}, headers=headers),
        409,
        "last_admin",
    )
    assert_problem(
        client.patch(f"/v1/users/{world.a.admin.id}", json={"active": False}, headers=headers),
        409,
        "last_admin",
    )


def test_user_input_is_validated(client, world):
    headers = world.a.headers["admin"]
    cases = [
        {"email": "not-an-email", "name": "X", "password": "long enough pass"},
        {"email": "a@example.org", "name": "X", "password": "short"},
        {"email": "a@example.org", "name": "X", "password": "long enough pass", "role": "superuser"},
        {"email": "a@example.org", "name": "", "password": "long enough pass"},
        {"email": "a@example.org", "name": "X" * 201, "password": "long enough pass"},
        {"email": "a@example.org", "name": "X", "password": "long enough pass", "is_admin": True},
    ]
    for body in cases:
        assert_problem(client.post("/v1/users", json=body, headers=headers), 422, "validation_error")


def test_physio_and_integration_cannot_manage_users(client, world):
    for who in ("physio", "api_key"):
        assert_problem(client.get("/v1/users", headers=world.a.headers[who]), 403)
