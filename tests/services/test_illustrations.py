"""Exercise illustrations: every catalogue exercise is drawn from its pose data, served with an ETag, named
with its size and hash, and a clinic's own picture is only that clinic's.

PNGs are rendered with resvg (resvg-py, a PyPI wheel), the renderer the docs gallery uses too.
"""

import hashlib
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from PIL import Image

from app.models.catalogue_files import CATALOGUE_DIR, CATALOGUE_LOCALES, CatalogueError, load_catalogue
from app.models.exercise import Exercise
from app.services import illustrations
from app.services.figure import render_svg
from tests.factories import exercise_body
from tests.gallery import png_of
from tests.helpers import REPO, assert_problem

SVG_NS = "{http://www.w3.org/2000/svg}"
SPECS = [spec for chain in load_catalogue() for spec in chain.exercises]
A_YEAR = 365 * 24 * 3600


def drawn_share(image: Image.Image) -> float:
    """Share of the pixels in the figure's colours (dark blue, light blue): 0 for a blank picture."""
    data = image.tobytes()
    figure = sum(1 for i in range(0, len(data), 3) if data[i + 2] > data[i] + 40)
    return figure / (len(data) / 3)


def as_exercise(spec) -> Exercise:
    return Exercise(
        slug=spec.slug,
        position=spec.position,
        equipment=list(spec.equipment),
        illustration=spec.illustration.model_dump(mode="json"),
    )


def test_every_catalogue_exercise_has_its_own_drawing_in_every_locale():
    assert len(SPECS) == 46
    drawings: dict[str, str] = {}
    for spec in SPECS:
        assert spec.illustration is not None, spec.slug
        for locale in CATALOGUE_LOCALES:
            name = spec.text[locale].name
            picture = illustrations.picture_of(as_exercise(spec), name, locale)
            root = ET.fromstring(picture.svg)
            assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
            assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == locale
            assert root.find(f"{SVG_NS}title").text == name
            assert root.find(f"{SVG_NS}desc").text == spec.illustration.alt[locale]
            assert picture.sha256 == hashlib.sha256(picture.svg.encode()).hexdigest()
        # The drawing alone (same title for all) renders, is not blank, and is no other exercise's.
        image = png_of(render_svg(spec.illustration, "x", "x", "en"), 480)
        assert image.width == 480 and 0.03 < drawn_share(image) < 0.5, spec.slug
        fingerprint = hashlib.sha256(image.tobytes()).hexdigest()
        assert fingerprint not in drawings, (spec.slug, drawings.get(fingerprint))
        drawings[fingerprint] = spec.slug


def test_the_same_pose_data_gives_the_same_bytes():
    spec = SPECS[0]
    # Two rows of their own (two ids), so neither rendering comes from the other's cache entry.
    assert illustrations.picture_of(as_exercise(spec), "Name", "en") == illustrations.picture_of(
        as_exercise(spec), "Name", "en"
    )


def test_the_catalogue_refuses_an_exercise_without_pose_data(tmp_path: Path):
    directory = tmp_path / "exercises"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / "bird-dog.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    del raw["exercises"][1]["illustration"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory)
    assert any("'bird-dog' field illustration: is required" in error for error in caught.value.errors)


def test_a_catalogue_picture_needs_no_sign_in_and_is_cached_by_its_hash(client):
    response = client.get("/media/exercises/bird-dog.svg", params={"locale": "es"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    etag = f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == f"public, max-age={A_YEAR}"
    assert ET.fromstring(response.content).find(f"{SVG_NS}title").text.startswith("Bird-dog (brazo")
    assert "a cuatro patas" in ET.fromstring(response.content).find(f"{SVG_NS}desc").text

    again = client.get("/media/exercises/bird-dog.svg?locale=es", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    # As every conditional GET here (RFC 9110): a weak tag (a compressing proxy's) and `*` match too.
    for sent in (f"W/{etag}", f'"other", {etag}', "*"):
        matched = client.get("/media/exercises/bird-dog.svg?locale=es", headers={"If-None-Match": sent})
        assert matched.status_code == 304, sent
    english = client.get("/media/exercises/bird-dog.svg", headers={"If-None-Match": etag})
    assert english.status_code == 200 and english.headers["ETag"] != etag


def test_bad_picture_requests(client):
    assert_problem(client.get("/media/exercises/no-such-exercise.svg"), 404, "not_found")
    assert_problem(client.get("/media/exercises/bird-dog.svg", params={"locale": "spanish"}), 422)
    assert_problem(
        client.get("/media/exercises/bird-dog.svg", headers={"Authorization": "Bearer nonsense"}), 401
    )


def test_the_catalogue_names_each_picture_with_its_size_and_hash(client, world):
    listing = client.get(
        "/v1/exercises", params={"limit": 200, "include_own": False}, headers=world.a.headers["physio"]
    )
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert len(items) == 46
    for item in items[:6]:
        (picture,) = item["media"]
        served = client.get(picture["url"])
        assert served.status_code == 200
        assert len(served.content) == picture["size_bytes"]
        assert hashlib.sha256(served.content).hexdigest() == picture["sha256"]
        assert picture["alt"] and picture["kind"] == "image"


def test_a_clinics_own_picture_is_only_that_clinics(client, world):
    pose = {
        "alt": {"en": "Lying on the back, lifting both arms."},
        "props": [{"kind": "mat"}, {"kind": "ball", "at": "wrist"}],
        "frames": [{"pose": "hook_lying"}, {"pose": "hook_lying", "angles": {"arm": 90, "forearm": 90}}],
        "arrows": [{"joint": "wrist"}],
    }
    link = {"kind": "video", "url": "https://clinic.test/videos/ball-lift.mp4", "alt": {"en": "Our video"}}
    body = exercise_body(illustration=pose, media=[link])
    created = client.post("/v1/exercises", json=body, headers=world.a.headers["physio"])
    assert created.status_code == 201, created.text
    drawing, own_link = created.json()["media"]
    assert drawing["url"].startswith(f"/media/exercises/{body['slug']}.svg?locale=en&v=")
    assert drawing["alt"] == pose["alt"]["en"] and own_link["url"] == link["url"]

    assert_problem(client.get(drawing["url"]), 404, "not_found")
    for who in world.b.headers:
        assert_problem(client.get(drawing["url"], headers=world.b.headers[who]), 404, "not_found")
    for who in ("physio", "patient", "api_key"):
        response = client.get(drawing["url"], headers=world.a.headers[who])
        assert response.status_code == 200, (who, response.text)
        assert response.headers["Cache-Control"] == f"private, max-age={A_YEAR}"
        assert hashlib.sha256(response.content).hexdigest() == drawing["sha256"]
    assert drawn_share(png_of(response.text, 480)) > 0.03

    # Back to the position's pose: a new drawing, so a new hash and URL.
    patched = client.patch(
        f"/v1/exercises/{body['slug']}", json={"illustration": None}, headers=world.a.headers["physio"]
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["media"][0]["sha256"] != drawing["sha256"]
    assert patched.json()["media"][0]["url"] != drawing["url"]


def test_a_clinics_own_exercise_without_pose_data_is_drawn_in_its_position(client, world):
    body = exercise_body(position="sitting", equipment=["chair"])
    created = client.post("/v1/exercises", json=body, headers=world.a.headers["physio"])
    assert created.status_code == 201, created.text
    (drawing,) = created.json()["media"]
    response = client.get(drawing["url"], headers=world.a.headers["physio"])
    assert response.status_code == 200
    assert drawn_share(png_of(response.text, 480)) > 0.03


def test_no_placeholder_media_host_is_left():
    placeholder = "media." + "example.org"
    places = [REPO / "exercises", REPO / "docs", REPO / "app", REPO / "tests", REPO / "README.md"]
    files = [path for place in places for path in ([place] if place.is_file() else place.rglob("*"))]
    offending = [
        str(path.relative_to(REPO))
        for path in files
        if path.is_file()
        and path.suffix in {".py", ".md", ".yaml"}
        and placeholder in path.read_text(encoding="utf-8")
    ]
    assert offending == []
