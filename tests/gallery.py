"""The docs gallery of every catalogue exercise's illustration: `make illustrations`.

Writes docs/illustrations/<slug>.png (thumbnails), docs/images/illustration-example.png (one picture at
full size) and docs/illustrations.md. PNGs come from resvg-py (a PyPI wheel: no system library), the
renderer the tests use.
"""

import io
from pathlib import Path

import resvg_py
from PIL import Image

from app.models.catalogue_files import load_catalogue
from app.models.exercise import Exercise
from app.services import illustrations

DOCS = Path(__file__).resolve().parents[1] / "docs"
THUMBNAILS = DOCS / "illustrations"
EXAMPLE_SLUG = "bird-dog"
THUMBNAIL_HEIGHT = 150


def png_of(svg: str, width: int) -> Image.Image:
    """The SVG rendered to an RGB image ``width`` pixels wide."""
    return Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width)))).convert("RGB")


def _save(image: Image.Image, path: Path) -> None:
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def build() -> list[str]:
    THUMBNAILS.mkdir(parents=True, exist_ok=True)
    (DOCS / "images").mkdir(exist_ok=True)
    rows = []
    for chain in load_catalogue():
        rows.append(f"\n## {chain.title['en']} ({chain.title['es']})\n")
        rows.append("| | exercise |\n|---|---|")
        for spec in chain.exercises:
            assert spec.illustration is not None
            exercise = Exercise(
                slug=spec.slug,
                position=spec.position,
                equipment=list(spec.equipment),
                illustration=spec.illustration.model_dump(mode="json"),
            )
            svg = illustrations.picture_of(exercise, spec.text["en"].name, "en").svg
            height_units = float(svg.split('viewBox="0 0 ')[1].split('"')[0].split()[1])
            width_units = float(svg.split('viewBox="0 0 ')[1].split('"')[0].split()[0])
            width = round(width_units * THUMBNAIL_HEIGHT / height_units)
            _save(png_of(svg, min(width, 640)), THUMBNAILS / f"{spec.slug}.png")
            if spec.slug == EXAMPLE_SLUG:
                _save(png_of(svg, 1100), DOCS / "images" / "illustration-example.png")
            name = f"**{spec.text['en'].name}** / {spec.text['es'].name}<br>`{spec.slug}`"
            rows.append(f"| ![{spec.illustration.alt['en']}](illustrations/{spec.slug}.png) | {name} |")
    (DOCS / "illustrations.md").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return [path.name for path in sorted(THUMBNAILS.glob("*.png"))]


HEADER = """# Exercise illustrations

Every exercise is drawn by the service itself from pose data kept with the exercise (`illustration:` in
`exercises/<chain>.yaml`, or sent with a clinic's own exercise): a figure of fixed proportions seen from
the side (from the front for side planks, from above when lying on the side), its props (mat, pillow,
wall, chair, band, strap, belt, step, ball), the start (1) and end (2) positions side by side and an orange
arrow for the movement, or for where to relax in a held position. Near limbs are dark, far limbs light.

`GET /media/exercises/{slug}.svg?locale=es` serves it as SVG with a title (the exercise's name) and a
description (the alt text) in that language, an ETag (its SHA-256) and a one-year cache lifetime. Catalogue
pictures need no sign-in; a clinic's own only a caller of that clinic. The catalogue and the patient's
programme document give each exercise's picture as its first media entry, with `size_bytes` and `sha256`
so the app can keep it offline; a clinic's own image or video links follow it.

![The bird-dog illustration at full size](images/illustration-example.png)

How the pose data works: [app/models/illustration.py](../app/models/illustration.py). This page and its
PNGs are made by `make illustrations` (resvg-py and Pillow, from PyPI).
"""


if __name__ == "__main__":
    print(f"{len(build())} thumbnails in {THUMBNAILS}")
