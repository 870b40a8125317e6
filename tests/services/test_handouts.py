"""The printable handout, read back as a patient's printer would get it: parsed with pypdf (text, pages,
paper size) and rasterised with pypdfium2 (something is printed, and a picture when one is given)."""

import io
import uuid
from datetime import date

import pypdf
import pypdfium2
import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.models.audit import AuditEvent
from app.models.handout import Handout
from app.models.programme_view import ProgrammeView
from app.services import handout_pdf, handouts
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme
from tests.services.test_programme_view import held_programme

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)
EXERCISES = ["double-leg-bridge", "cat-camel", "bird-dog", "prone-lying-over-pillows", "short-walks"]


def pages_text(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    # One space for any run of whitespace: a line wrapped by the layout reads as one sentence.
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def page_size(pdf: bytes, index: int = 0) -> tuple[float, float]:
    box = pypdf.PdfReader(io.BytesIO(pdf)).pages[index].mediabox
    return round(float(box.width), 2), round(float(box.height), 2)


def raster(pdf: bytes, index: int = 0):
    return pypdfium2.PdfDocument(pdf)[index].render(scale=1).to_pil().convert("RGB")


def as_spanish(client, tenant):
    response = client.patch(
        f"/v1/patients/{tenant.patient.id}", json={"locale": "es"}, headers=tenant.headers["physio"]
    )
    assert response.status_code == 200, response.text


def view_of(client, tenant, programme) -> ProgrammeView:
    response = client.get(f"/v1/me/programmes/{programme['id']}", headers=tenant.headers["patient"])
    assert response.status_code == 200, response.text
    return ProgrammeView.model_validate_json(response.content)


def detailed_items():
    return [
        {"exercise": "double-leg-bridge", "sets": 2, "reps": 10, "hold_s": 3, "days_of_week": [1, 3, 5],
         "rest_s": 60, "notes": "Despacio, sin dolor."},
        {"exercise": "bird-dog", "sets": 2, "reps": 6, "side": "left", "load": "sin peso"},
        {"exercise": "cat-camel", "reps": 8, "times_per_day": 2},
    ]  # fmt: skip


def test_a_spanish_handout_has_every_current_item_and_the_warning_on_every_page(client, world):
    as_spanish(client, world.a)
    programme = active_programme(client, world.a, items=detailed_items())
    response = client.get(f"/v1/programmes/{programme['id']}/handout.pdf", headers=world.a.headers["physio"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert page_size(response.content) == A4
    pages = pages_text(response.content)
    whole = " ".join(pages)
    view = view_of(client, world.a, programme)
    for item in view.phases[view.current_phase].items:
        assert item.exercise.locale == "es"
        assert item.exercise.name in whole and item.dose_text in whole
        assert all(" ".join(step.split()) in whole for step in item.exercise.steps)
        assert all(" ".join(rule.text.split()) in whole for rule in item.exercise.stop_rules)
    assert "2 series de 10, aguanta 3 segundos, los lunes, miércoles y viernes" in whole
    assert "Descansa 1 minuto entre series" in whole and "Despacio, sin dolor." in whole
    assert "Lado izquierdo" in whole and "Peso o banda: sin peso" in whole
    assert world.a.clinic.name in whole and f"Preparado para {world.a.patient.display_name}" in whole
    assert "Empieza el 2 de noviembre de 2026" in whole and programme["title"] in whole
    lead = view.safety.emergency_warning[0]
    for number, page in enumerate(pages, start=1):
        assert lead in page and "Ve a urgencias ahora" in page
        assert f"Página {number} de {len(pages)}" in page
    assert raster(response.content).getbbox() is not None  # something is printed


def test_letter_paper_and_the_patients_own_copy(client, world):
    programme = active_programme(client, world.a)
    staff = client.get(
        f"/v1/programmes/{programme['id']}/handout.pdf?paper=letter", headers=world.a.headers["physio"]
    )
    assert staff.status_code == 200 and page_size(staff.content) == LETTER
    mine = client.get(f"/v1/me/programmes/{programme['id']}/handout.pdf", headers=world.a.headers["patient"])
    assert mine.status_code == 200 and page_size(mine.content) == A4
    text = " ".join(pages_text(mine.content))
    assert "Get help now if you have any of these signs" in text and "1. Bridge" in text


def test_every_print_is_audited_with_its_revision(client, world):
    programme = active_programme(client, world.a)
    for headers, url in (
        (world.a.headers["physio"], f"/v1/programmes/{programme['id']}/handout.pdf?revision=1"),
        (world.a.headers["patient"], f"/v1/me/programmes/{programme['id']}/handout.pdf"),
    ):
        assert client.get(url, headers=headers).status_code == 200
    with Session(get_engine()) as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "programme.handout",
                AuditEvent.resource_id == uuid.UUID(programme["id"]),
            )
        ).all()
    assert sorted((row.actor_kind, row.detail) for row in rows) == [
        ("patient", f"revision {programme['revision']}"),
        ("staff", "revision 1"),
    ]
    assert all(row.patient_id == world.a.patient.id for row in rows)


def test_an_older_revision_prints_as_it_was(client, world):
    programme = active_programme(client, world.a)  # revision 1: the draft, revision 2: activated
    edited = dict(programme)
    document = {
        "title": "Renamed plan",
        "start_date": programme["start_date"],
        "phases": [{"name": "One", "items": [{"exercise": "cat-camel", "reps": 5}]}],
    }
    replaced = client.put(
        f"/v1/programmes/{edited['id']}",
        json=document,
        headers={**world.a.headers["physio"], "If-Match": f'"{programme["revision"]}"'},
    )
    assert replaced.status_code == 200, replaced.text
    url = f"/v1/programmes/{programme['id']}/handout.pdf"
    old = " ".join(pages_text(client.get(f"{url}?revision=1", headers=world.a.headers["physio"]).content))
    new = " ".join(pages_text(client.get(url, headers=world.a.headers["physio"]).content))
    assert "Home plan" in old and "1. Bridge" in old
    assert "Renamed plan" in new and "Bridge" not in new


def test_a_stopped_exercise_and_a_safety_hold_are_printed_as_such(client, world):
    programme = held_programme(client, world.a)
    pdf = client.get(f"/v1/me/programmes/{programme['id']}/handout.pdf", headers=world.a.headers["patient"])
    text = " ".join(pages_text(pdf.content))
    assert "Your programme is paused until your physio has checked you." in text
    view = view_of(client, world.a, programme)
    stopped = view.phases[0].items[0]
    assert stopped.stopped is not None and stopped.exercise.name in text
    assert "Stop doing this exercise for now." in text
    assert stopped.dose_text not in text  # a stopped exercise has no dose to follow


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/programmes/{unknown}/handout.pdf", 404),
        ("/v1/programmes/{other}/handout.pdf", 404),
        ("/v1/programmes/{mine}/handout.pdf?revision=99", 404),
        ("/v1/programmes/{mine}/handout.pdf?revision=2147483647", 404),
        ("/v1/programmes/{mine}/handout.pdf?revision=0", 404),
        ("/v1/programmes/{mine}/handout.pdf?revision=2147483648", 404),
        ("/v1/programmes/{mine}/handout.pdf?revision=999999999999999999", 404),
        ("/v1/programmes/{mine}/handout.pdf?paper=a5", 422),
        ("/v1/programmes/{mine}/handout.pdf?revision=two", 422),
    ],
)
def test_bad_input_is_a_problem(client, world, path, status):
    mine = active_programme(client, world.a)
    other = active_programme(client, world.b)
    url = path.format(unknown=uuid.uuid4(), other=other["id"], mine=mine["id"])
    assert_problem(client.get(url, headers=world.a.headers["physio"]), status)


def test_a_patient_prints_only_their_own_programmes_and_never_a_draft(client, world):
    other = active_programme(client, world.b)
    url = f"/v1/me/programmes/{other['id']}/handout.pdf"
    assert_problem(client.get(url, headers=world.a.headers["patient"]), 404)
    draft = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes",
        json={"title": "Draft", "start_date": "2026-11-02", "phases": [{"name": "One", "items": [
            {"exercise": "cat-camel", "reps": 5}]}]},
        headers=world.a.headers["physio"],
    ).json()  # fmt: skip
    url = f"/v1/me/programmes/{draft['id']}/handout.pdf"
    assert_problem(client.get(url, headers=world.a.headers["patient"]), 404)
    url = f"/v1/me/programmes/{draft['id']}/handout.pdf?paper=a3"
    assert_problem(client.get(url, headers=world.a.headers["patient"]), 422)
    # The staff route is for staff: a patient token is refused.
    assert_problem(
        client.get(f"/v1/programmes/{draft['id']}/handout.pdf", headers=world.a.headers["patient"]), 403
    )


def assert_blocks_whole(pdf: bytes, items) -> list[str]:
    """Every item's heading, dose and note are on one page, and every page has the warning."""
    pages = pages_text(pdf)
    for number, item in enumerate(items, start=1):
        heading = f"{number}. {item.exercise.name}"
        holding = [index for index, page in enumerate(pages) if f" {heading}" in f" {page}"]
        assert len(holding) == 1, (heading, holding)
        assert item.dose_text in pages[holding[0]] and item.notes in pages[holding[0]], heading
    assert all("Get help now if you have any of these signs" in page for page in pages)
    return pages


def many_items(count: int):
    return [
        {"exercise": EXERCISES[index % len(EXERCISES)], "reps": 5 + index, "notes": f"Note number {index}."}
        for index in range(count)
    ]


def test_sixty_items_in_two_full_phases_print_the_current_phase_with_clean_page_breaks(client, world):
    """A phase holds at most 30 items: 60 items are two full phases; the handout prints the current one."""
    document = {
        "title": "Long plan",
        "start_date": "2026-11-02",
        "phases": [{"name": "One", "items": many_items(30)}, {"name": "Two", "items": many_items(30)}],
    }
    created = client.post(
        f"/v1/patients/{world.a.patient.id}/programmes", json=document, headers=world.a.headers["physio"]
    )
    assert created.status_code == 201, created.text
    programme = client.post(
        f"/v1/programmes/{created.json()['id']}/activate", headers=world.a.headers["physio"]
    )
    pdf = client.get(
        f"/v1/programmes/{programme.json()['id']}/handout.pdf", headers=world.a.headers["physio"]
    )
    assert pdf.status_code == 200
    view = view_of(client, world.a, programme.json())
    pages = assert_blocks_whole(pdf.content, view.phases[0].items)
    assert len(pages) > 5


def test_sixty_items_in_one_phase_still_render_cleanly(client, world):
    """The layout itself, past what one phase may hold today: 60 items in one phase."""
    programme = active_programme(client, world.a, items=many_items(30))
    view = view_of(client, world.a, programme)
    items = view.phases[0].items
    sixty = [*items, *(item.model_copy(update={"notes": f"{item.notes} Again."}) for item in items)]
    phase = view.phases[0].model_copy(update={"items": sixty})
    handout = Handout(
        clinic_name="Clinic",
        patient_name="Sam",
        revision_date=date(2026, 11, 2),
        printed_on=date(2026, 12, 3),
        view=view.model_copy(update={"phases": [phase]}),
    )
    pdf = handout_pdf.render(handout, "letter", lambda exercise: None)
    pages = assert_blocks_whole(pdf, sixty)
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == len(pages) > 10
    assert all(page_size(pdf, index) == LETTER for index in range(len(pages)))
    assert all(raster(pdf, index).getbbox() is not None for index in (0, len(pages) - 1))


RED = (208, 16, 16)
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100">'
    b"<title>Test picture</title>"
    b'<rect x="10" y="10" width="180" height="80" fill="#d01010"/>'
    b'<circle cx="100" cy="50" r="30" fill="#ffffff"/></svg>'
)


def red_pixels(pdf: bytes) -> int:
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    colours = [raster(pdf, index).getcolors(maxcolors=1 << 24) for index in range(pages)]
    return sum(count for page in colours for count, colour in page if colour == RED)


def test_each_item_prints_the_picture_its_one_source_gives(client, world, monkeypatch):
    """handouts.exercise_picture is where pictures come from: an SVG it gives is drawn in each block."""
    programme = active_programme(client, world.a)
    url = f"/v1/me/programmes/{programme['id']}/handout.pdf"
    without = client.get(url, headers=world.a.headers["patient"]).content
    asked: list[str] = []

    def picture(session, exercise):
        asked.append(exercise.slug)
        return PICTURE

    monkeypatch.setattr(handouts, "exercise_picture", picture)
    drawn = client.get(url, headers=world.a.headers["patient"]).content
    assert asked == ["double-leg-bridge", "cat-camel"]
    assert red_pixels(without) == 0
    # Two pictures 56 mm wide (about 159 points at 72 dpi): each a red band around a white disc.
    assert red_pixels(drawn) > 2 * 140 * 50
    assert " ".join(pages_text(drawn)) == " ".join(pages_text(without))  # the words are the same


def test_the_openapi_document_declares_the_pdf_and_the_svg(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/programmes/{programme_id}/handout.pdf", "/v1/me/programmes/{programme_id}/handout.pdf"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["application/pdf"]
    for path in ("/v1/me/progress.svg", "/v1/patients/{patient_id}/progress.svg"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["image/svg+xml"]
    paper = next(
        p
        for p in paths["/v1/programmes/{programme_id}/handout.pdf"]["get"]["parameters"]
        if p["name"] == "paper"
    )
    assert paper["schema"]["enum"] == ["a4", "letter"]
