"""Every answer carries the security headers, successes and errors alike, and is not cached by default."""

from tests.helpers import assert_problem

HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def test_every_answer_carries_the_security_headers(client, world):
    answers = [
        client.get("/healthz"),
        client.get("/v1/patients", headers=world.a.headers["physio"]),
        assert_problem_response(client.get("/v1/patients"), 401),
        assert_problem_response(client.get("/v1/nothing-here"), 404),
        assert_problem_response(client.post("/v1/patients", json={}, headers=world.a.headers["physio"]), 422),
    ]
    for response in answers:
        for name, value in HEADERS.items():
            assert response.headers[name] == value, (response.request.url, name)
        # Patient data must not sit in shared or browser caches.
        assert response.headers["cache-control"] == "no-store", response.request.url
        assert response.headers["x-request-id"]


def test_a_route_that_sets_its_own_cache_policy_keeps_it(client, world):
    """The patient app's programme is revalidated by ETag: private, never stored by shared caches."""
    from tests.logging_helpers import active_programme

    programme = active_programme(client, world.a)
    response = client.get(f"/v1/me/programmes/{programme['id']}", headers=world.a.headers["patient"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"


def assert_problem_response(response, status):
    assert_problem(response, status)
    return response
