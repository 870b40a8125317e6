"""Pictures the service draws itself: each exercise's illustration, as SVG, cacheable for offline use."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from app.deps import OptionalActor, SessionDep
from app.models.catalogue_files import DEFAULT_LOCALE
from app.routing import UnitOfWorkRoute
from app.services import conditional, illustrations

router = APIRouter(prefix="/media", tags=["media"], route_class=UnitOfWorkRoute)

SVG = "image/svg+xml"
# The URLs the documents give carry the content hash (v=), so a changed drawing gets a new URL.
A_YEAR = 365 * 24 * 3600


@router.get(
    "/exercises/{exercise_slug}.svg",
    response_class=Response,
    responses={
        200: {"content": {SVG: {"schema": {"type": "string"}}}, "description": "The illustration"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
    },
)
def exercise_illustration(
    exercise_slug: str,
    session: SessionDep,
    actor: OptionalActor,
    locale: Annotated[
        str, Query(pattern=r"^[a-z]{2}(?:-[A-Z]{2})?$", description="Title and description language")
    ] = DEFAULT_LOCALE,
    v: Annotated[str | None, Query(max_length=64, description="The content hash the document named")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A catalogue exercise's picture needs no sign-in; a clinic's own needs a caller of that clinic."""
    picture, public = illustrations.served_picture(session, actor, exercise_slug, locale)
    etag = f'"{picture.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'public' if public else 'private'}, max-age={A_YEAR}",
        "Vary": "Authorization",
    }
    if conditional.none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(picture.data, media_type=SVG, headers=headers)
