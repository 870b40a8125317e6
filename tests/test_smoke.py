def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


def test_world(client, world):
    response = client.get(f"/v1/patients/{world.a.patient.id}", headers=world.a.headers["physio"])
    assert response.status_code == 200, response.text
