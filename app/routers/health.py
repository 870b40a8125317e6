from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from app.deps import MetricsReader, SessionDep
from app.observability import render_metrics
from app.routing import UnitOfWorkRoute
from app.services import health

router = APIRouter(tags=["operations"], route_class=UnitOfWorkRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(session: SessionDep) -> dict[str, str]:
    return health.check_ready(session)


@router.get(
    "/metrics",
    dependencies=[MetricsReader],
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
    summary="Prometheus metrics (see docs/operations.md)",
)
def metrics(session: SessionDep) -> Response:
    body = render_metrics(lambda: health.delivery_queue(session))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
