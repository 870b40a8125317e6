"""Progress charts as SVG: parsed as XML, their numbers checked against what was logged, their words in the
reader's language, rasterised to check something is drawn; and the meaningful-change line's rule."""

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.db import get_engine
from app.models.audit import AuditEvent
from app.services import chart_svg
from app.services.outcomes import MEANINGFUL
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, item_ids, log_body
from tests.rendering import svg_to_png

SVG = "{http://www.w3.org/2000/svg}"
# (days ago, pain during, pain after, leg symptoms after): the leg symptoms retreat towards the spine.
LOGS = [
    (6, 6, 5, "below_knee"),
    (5, 5, 4, "thigh"),
    (3, 4, 3, "thigh"),
    (2, 3, 2, "buttock"),
    (1, 2, 1, "none"),
]


def logged_patient(client, tenant, locale="en"):
    client.patch(
        f"/v1/patients/{tenant.patient.id}", json={"locale": locale}, headers=tenant.headers["physio"]
    )
    now = datetime.now(UTC)
    programme = active_programme(client, tenant, start_date="2026-01-05", backdate=now - timedelta(days=10))
    item = item_ids(programme)[0]
    for days_ago, during, after, leg in LOGS:
        at = (now - timedelta(days=days_ago)).replace(hour=12).isoformat()
        body = log_body(programme, item, at, pain_during=during, pain_after=after, leg_symptoms=leg)
        assert client.post("/v1/me/sessions", json=body, headers=tenant.headers["patient"]).status_code == 201
    for days_ago, back in ((9, 8), (2, 5)):
        taken = (now - timedelta(days=days_ago)).isoformat()
        outcome = {"instrument": "nprs", "answers": {"back": back}, "taken_at": taken}
        assert (
            client.post("/v1/me/outcomes", json=outcome, headers=tenant.headers["patient"]).status_code == 201
        )
    return programme


def parse(response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    return ET.fromstring(response.content)


def panels(root: ET.Element) -> dict[str, ET.Element]:
    return {group.get("aria-label"): group for group in root.iter(f"{SVG}g") if group.get("role") == "group"}


def polyline_points(group: ET.Element, colour: str) -> list[tuple[float, float]]:
    lines = [line for line in group.iter(f"{SVG}polyline") if line.get("stroke") == colour]
    return [tuple(map(float, point.split(","))) for point in lines[0].get("points").split()]


def test_the_patients_chart_shows_what_was_logged_in_their_language(client, world):
    logged_patient(client, world.a, locale="es")
    root = parse(client.get("/v1/me/progress.svg", headers=world.a.headers["patient"]))
    assert root.get("role") == "img" and root.get("lang") == "es"
    assert root.get("aria-labelledby") == "chart-title chart-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.get("id") == "chart-title" and title.text.startswith("Progreso del ")
    assert "5 días con sesiones" in desc.text and "6 el primer día, 2 el último" in desc.text
    assert "debajo de la rodilla el primer día, nada el último" in desc.text
    found = panels(root)
    pain = found["Dolor durante y después del ejercicio (0–10)"]
    during = polyline_points(pain, chart_svg._DURING)
    assert len(during) == len(LOGS)
    assert [y for _, y in during] == sorted(y for _, y in during)  # pain falls: y grows down the page
    leg = found["Hasta dónde bajaron los síntomas por la pierna (más abajo en el gráfico es mejor)"]
    assert len(polyline_points(leg, chart_svg._LEG)) == len(LOGS)
    assert any("Sesiones hechas cada semana" in label for label in found)
    back = found["Dolor de espalda (EVN 0–10), ahora"]
    assert "8 al principio, 5 en el último" in back.find(f"{SVG}desc").text
    assert "La línea de cambio importante está en 6" in back.find(f"{SVG}desc").text
    (line,) = [line for line in back.iter(f"{SVG}polyline") if line.get("stroke") == chart_svg._LINE]
    assert {y for _, y in (tuple(map(float, p.split(","))) for p in line.get("points").split())} == {
        chart_svg._Panel(ET.Element("svg"), 3, "", datetime.now().date(), datetime.now().date()).y(6, 10)
    }
    with Session(get_engine()) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == "progress.chart")).all()
    assert any(row.patient_id == world.a.patient.id and row.actor_kind == "patient" for row in rows)


def test_staff_choose_the_window_and_read_their_own_language(client, world):
    logged_patient(client, world.a)
    url = f"/v1/patients/{world.a.patient.id}/progress.svg"
    today = datetime.now(UTC).date()
    window = {"from": (today - timedelta(days=3)).isoformat(), "to": today.isoformat()}
    root = parse(client.get(url, params=window, headers=world.a.headers["physio"]))
    assert root.get("lang") == "en" and root.find(f"{SVG}title").text.startswith("Progress from ")
    pain = panels(root)["Pain during and after exercise (0–10)"]
    assert len(polyline_points(pain, chart_svg._DURING)) == 3  # the logs of the last 3 days
    # The NPRS baseline lies before the window: the line still comes from it.
    assert "Back pain (NPRS 0–10), now: 5 at the start" in root.find(f"{SVG}desc").text
    spanish = parse(client.get(url, params={**window, "locale": "es"}, headers=world.a.headers["physio"]))
    assert spanish.find(f"{SVG}title").text.startswith("Progreso del ")


def test_an_empty_period_says_so(client, world):
    root = parse(client.get("/v1/me/progress.svg", headers=world.a.headers["patient"]))
    assert root.find(f"{SVG}desc").text.count("No data in this period") == 3
    assert "No questionnaire scores in this period" in root.find(f"{SVG}desc").text


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("physio", "/v1/patients/{other}/progress.svg", 404),
        ("physio", "/v1/patients/{unknown}/progress.svg", 404),
        ("physio", "/v1/patients/{mine}/progress.svg?from=2026-02-01&to=2026-01-01", 400),
        ("physio", "/v1/patients/{mine}/progress.svg?from=2024-01-01&to=2026-01-01", 400),
        ("physio", "/v1/patients/{mine}/progress.svg?from=yesterday", 422),
        ("patient", "/v1/patients/{mine}/progress.svg", 403),
        ("physio", "/v1/me/progress.svg", 403),
    ],
)
def test_bad_input_is_a_problem(client, world, who, path, status):
    url = path.format(other=world.b.patient.id, unknown=uuid.uuid4(), mine=world.a.patient.id)
    assert_problem(client.get(url, headers=world.a.headers[who]), status)


def test_the_chart_draws_something(client, world):
    logged_patient(client, world.a)
    svg = client.get("/v1/me/progress.svg", headers=world.a.headers["patient"]).content
    image = svg_to_png(svg)
    assert image.size[0] >= chart_svg.WIDTH
    colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert len(colours) > 20  # lines, bars, dots and text, not a blank page


@given(
    instrument=st.sampled_from(sorted(MEANINGFUL)),
    share=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_the_meaningful_line_is_the_smallest_change_the_rule_calls_meaningful(instrument, share):
    rule = MEANINGFUL[instrument]
    top = {"nprs": 10, "odi": 100, "rmdq": 24, "psfs": 10}[instrument]
    baseline = round(share * top, 1)
    target = rule.target(baseline)
    if target is None:
        assert not rule.possible(baseline)
        return
    amount = abs(target - baseline)
    assert rule.reached(baseline, amount)
    assert not rule.reached(baseline, amount - 0.05)
    assert 0 <= target <= top
