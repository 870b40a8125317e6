"""SQL statements per request on the hot paths: a constant number, whatever the programme's size (no N+1).

Each hot endpoint is called for a small programme (2 items, 5 logs) and a large one (30 items, 200 logs)
and must run the same number of statements for both. The counts are also pinned per database, so that a
new query on a hot path is a deliberate change to this file (see docs/performance.md).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from app.db import get_engine, read_engine
from tests.helpers import listening
from tests.logging_helpers import active_programme, item_ids, log_body

SLUGS = ["double-leg-bridge", "cat-camel", "bird-dog", "dead-bug", "knee-plank", "prone-on-elbows"]

# Statements per request by dialect, for both sizes, on both engines: the read routes (plan, programme) read
# on the read engine without BEGIN, the caller check and the programme in one statement (the plan's with the
# items logged on the days that can be today), and their audit row is stored by the group commit on the
# main engine (here a batch of one request: its BEGIN IMMEDIATE on SQLite and the INSERT). COMMIT is not a
# cursor statement. programme_200 is a warm render cache (a cold one adds the revision read).
EXPECTED = {
    "plan": {"sqlite": 3, "postgresql": 2},
    "programme_200": {"sqlite": 3, "postgresql": 2},
    "programme_304": {"sqlite": 3, "postgresql": 2},
    # The log's review prompts (issue 14) read the item's sessions at its dose in one more statement.
    "log": {"sqlite": 10, "postgresql": 9},
    "exercises": {"sqlite": 4, "postgresql": 3},
    "adherence": {"sqlite": 6, "postgresql": 5},
}


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)


@contextmanager
def counting() -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engines = (get_engine(), read_engine(get_engine()))
    with listening(*((engine, "before_cursor_execute", counter) for engine in engines)):
        yield counter


def _programme(client, tenant, n_items: int, n_logs: int) -> dict:
    items = [
        {
            "exercise": SLUGS[i % len(SLUGS)],
            "sets": 2,
            "reps": 10,
            "times_per_day": 1 + i % 2,
            "progression_rule": {"variable": "reps", "step": 2, "ceiling": 20},
        }
        for i in range(n_items)
    ]
    running_since = datetime.now(UTC) - timedelta(days=60)  # the logs below go back 50 days
    programme = active_programme(
        client, tenant, items=items, start_date=running_since.date().isoformat(), backdate=running_since
    )
    ids = item_ids(programme)
    now = datetime.now(UTC)
    logs = [
        log_body(programme, ids[i % len(ids)], (now - timedelta(hours=6 * (n_logs - i))).isoformat())
        for i in range(n_logs)
    ]
    response = client.post("/v1/me/sessions/batch", json={"logs": logs}, headers=tenant.headers["patient"])
    assert response.status_code == 200, response.text
    assert all(result["status"] == 201 for result in response.json()["results"]), response.json()["results"][
        :2
    ]
    return client.get(f"/v1/me/programmes/{programme['id']}", headers=tenant.headers["patient"]).json()


def _counts(client, tenant, programme: dict) -> dict[str, int]:
    patient = tenant.headers["patient"]
    counts: dict[str, int] = {}

    def measure(name: str, call, expected_status: int) -> None:
        with counting() as counter:
            response = call()
        assert response.status_code == expected_status, response.text
        counts[name] = len(counter.statements)

    path = f"/v1/me/programmes/{programme['id']}"
    measure("plan", lambda: client.get("/v1/me/plan", headers=patient), 200)
    measure("programme_200", lambda: client.get(path, headers=patient), 200)
    etag = client.get(path, headers=patient).headers["etag"]
    measure("programme_304", lambda: client.get(path, headers={**patient, "If-None-Match": etag}), 304)
    body = log_body(programme, item_ids(programme)[0], datetime.now(UTC).isoformat(), response="same")
    measure("log", lambda: client.post("/v1/me/sessions", json=body, headers=patient), 201)
    measure(
        "exercises",
        lambda: client.get("/v1/exercises", params={"q": "bridge"}, headers=tenant.headers["physio"]),
        200,
    )
    measure(
        "adherence",
        lambda: client.get(f"/v1/patients/{tenant.patient.id}/adherence", headers=tenant.headers["physio"]),
        200,
    )
    return counts


@pytest.fixture
def sized(client, world):
    small = _programme(client, world.a, n_items=2, n_logs=5)
    large = _programme(client, world.b, n_items=30, n_logs=200)
    return (world.a, small), (world.b, large)


def test_hot_paths_run_a_constant_number_of_statements(client, sized):
    (small_tenant, small), (large_tenant, large) = sized
    assert len(item_ids(large)) == 30 and uuid.UUID(large["id"])
    small_counts = _counts(client, small_tenant, small)
    large_counts = _counts(client, large_tenant, large)
    assert small_counts == large_counts, (small_counts, large_counts)
    dialect = get_engine().dialect.name
    assert small_counts == {name: by_dialect[dialect] for name, by_dialect in EXPECTED.items()}
