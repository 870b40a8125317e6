"""The pictures in docs/ of what a clinic gets: a handout page and a progress chart, drawn from real data by
the service and rasterised with the same tools as the tests. `make docs-pictures` writes them; otherwise
this checks the committed ones are there, are PNG, and have the size the service draws today."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from tests.logging_helpers import active_programme, item_ids, log_body
from tests.rendering import pdf_page_png, svg_to_png
from tests.services.test_handouts import pages_text

PICTURES = Path(__file__).resolve().parents[1] / "docs" / "pictures"
ITEMS = [
    {"exercise": "double-leg-bridge", "sets": 2, "reps": 10, "hold_s": 3, "days_of_week": [1, 3, 5],
     "rest_s": 60, "notes": "Keep it slow and smooth; stop short of pain."},
    {"exercise": "cat-camel", "reps": 8, "times_per_day": 2},
]  # fmt: skip


LEG = ["below_knee", "below_knee", "thigh", "thigh", "buttock", "buttock", "none", "none"]


def eight_weeks(client, tenant) -> None:
    """Eight weeks of a patient getting better: sessions most days, pain and leg symptoms easing, two
    questionnaires taken three times."""
    now = datetime.now(UTC)
    programme = active_programme(client, tenant, start_date="2026-01-05", backdate=now - timedelta(days=60))
    items = item_ids(programme)
    for days_ago in range(55, 0, -1):
        if days_ago % 7 in (2, 5):
            continue  # missed days
        week = (55 - days_ago) // 7
        during = max(0, 6 - week + days_ago % 2)
        at = (now - timedelta(days=days_ago)).replace(hour=18).isoformat()
        log = log_body(programme, items[0], at, pain_during=during, pain_after=max(0, during - 1),
                       leg_symptoms=LEG[week])  # fmt: skip
        assert client.post("/v1/me/sessions", json=log, headers=tenant.headers["patient"]).status_code == 201
    taken_three_times = [
        (54, 7, [3, 2, 3, 2, 2, 3, 2, 2, 3, 2]),
        (27, 5, [2, 2, 2, 1, 1, 2, 1, 2, 2, 1]),
        (2, 3, [1, 1, 1, 0, 1, 1, 0, 1, 1, 0]),
    ]
    for days_ago, back, odi in taken_three_times:
        taken = (now - timedelta(days=days_ago)).isoformat()
        for outcome in (
            {"instrument": "nprs", "answers": {"back": back}, "taken_at": taken},
            {"instrument": "odi", "answers": {"sections": odi}, "taken_at": taken},
        ):
            response = client.post("/v1/me/outcomes", json=outcome, headers=tenant.headers["patient"])
            assert response.status_code == 201, response.text


def pictures(client, world) -> dict[str, Image.Image]:
    programme = active_programme(client, world.a, items=ITEMS)
    pdf = client.get(
        f"/v1/programmes/{programme['id']}/handout.pdf", headers=world.a.headers["physio"]
    ).content
    first_exercise = next(index for index, page in enumerate(pages_text(pdf)) if " 1. Bridge" in f" {page}")
    eight_weeks(client, world.b)
    chart = client.get("/v1/me/progress.svg", headers=world.b.headers["patient"]).content
    return {
        "handout-page.png": pdf_page_png(pdf, first_exercise, scale=1.5),
        "progress-chart.png": svg_to_png(chart),
    }


def test_the_pictures_in_docs_are_the_ones_the_service_draws(client, world):
    drawn = pictures(client, world)
    if os.environ.get("HEP_WRITE_DOCS_PICTURES"):
        PICTURES.mkdir(exist_ok=True)
        for name, image in drawn.items():
            image.save(PICTURES / name, optimize=True)
    for name, image in drawn.items():
        with Image.open(PICTURES / name) as committed:
            assert committed.format == "PNG" and committed.size == image.size, name
            assert committed.convert("L").getextrema() != (255, 255), f"{name} is blank"
