"""The pictures in docs/ of what a clinic gets: a handout page and a progress chart, drawn from real data by
the service and rasterised with the same tools as the tests. `make docs-pictures` writes them; otherwise
this checks the committed ones are there, are PNG, and have the size the service draws today."""

import os
from pathlib import Path

from PIL import Image

from tests.logging_helpers import active_programme
from tests.rendering import pdf_page_png, svg_to_png
from tests.test_handouts import pages_text
from tests.test_progress_charts import logged_patient

PICTURES = Path(__file__).resolve().parents[1] / "docs" / "pictures"
ITEMS = [
    {"exercise": "double-leg-bridge", "sets": 2, "reps": 10, "hold_s": 3, "days_of_week": [1, 3, 5],
     "rest_s": 60, "notes": "Keep it slow and smooth; stop short of pain."},
    {"exercise": "cat-camel", "reps": 8, "times_per_day": 2},
]  # fmt: skip


def pictures(client, world) -> dict[str, Image.Image]:
    programme = active_programme(client, world.a, items=ITEMS)
    pdf = client.get(
        f"/v1/programmes/{programme['id']}/handout.pdf", headers=world.a.headers["physio"]
    ).content
    first_exercise = next(index for index, page in enumerate(pages_text(pdf)) if " 1. Bridge" in f" {page}")
    logged_patient(client, world.b)
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
