from fastapi import APIRouter

from app.deps import SessionDep
from app.services import health

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(session: SessionDep) -> dict[str, str]:
    return health.check_ready(session)
