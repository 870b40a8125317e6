"""`Idempotency-Key` on the POSTs that create (DESIGN §4; draft-ietf-httpapi-idempotency-key-header).

An EHR or app that retries a create whose answer it never got sends the same `Idempotency-Key` and gets
the first answer back (status, body, headers such as ETag or Location, plus `Idempotent-Replayed: true`),
never a second patient, programme or endpoint. One mechanism for every such route, applied by the route
class (app.routing.UnitOfWorkRoute calls `honour_idempotency_key` on each endpoint):

- which routes: every POST that answers 201 Created, but for those idempotent by their own means
  (OWN_IDEMPOTENCY); tests/test_idempotency.py lists them, so a new create cannot slip past unnoticed;
- the route's signature gains the optional header (validated: 1–255 printable ASCII characters; it is
  then declared in the OpenAPI document with a 409) and the request's fingerprint is taken on the event
  loop from the method, the route, the path, the query and the body (JSON compared by content);
- inside the unit of work's hop, after the caller and loaders were checked and before the route's own
  work, the key is claimed in the request's transaction (app.services.idempotency: a concurrent duplicate
  waits for the first and is then given its answer); a stored answer is replayed without running the
  route; otherwise the route runs, its answer is serialised here, stored in the same transaction, and sent
  as those same bytes. The unit of work commits both at once, or neither.

A replay writes no event and no "create" audit row (the route does not run); it writes one
`request.replayed` audit row, since it hands the answer (patient data, a secret) out again. A key belongs
to one caller of one clinic: another caller's same key is another key. The caller checks run before the
replay: a caller who lost the right to the operation gets its 401/403, not the stored answer.
"""

import functools
import hashlib
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from pydantic import TypeAdapter

from app.config import get_settings
from app.db import utcnow
from app.models.common import Actor
from app.services import audit, idempotency
from app.unit_of_work import current_unit

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# POSTs that answer 201 but do not take the header, and why.
OWN_IDEMPOTENCY = {
    # The log's id is chosen by the app and is its idempotency key (same id and body: the stored log,
    # 200; another body: 409 log_id_conflict), per log, also inside a batch.
    "/v1/me/sessions": "idempotent by the log's own id",
    # Stored in a unit of work of its own so that the advice reaches the patient even when storing fails
    # (app.services.safety.check_in): it cannot share one transaction with a stored answer.
    "/v1/me/symptom-checks": "stored in its own unit of work; the advice is never withheld",
}
_PARAMETER = "idempotent_request"
_MARK = "__hep_idempotent__"
_DOCUMENTED = {
    201: {
        "headers": {
            REPLAYED: {
                "description": "`true` when this is the stored answer of an earlier request with the same "
                "Idempotency-Key (nothing was created this time)",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    },
    409: {
        "description": "The Idempotency-Key was first used with a different request "
        "(`idempotency_key_reused`), or another conflict"
    },
}


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    fingerprint: str
    route: str


def _canonical_body(body: bytes) -> bytes:
    """JSON by its content (key order and spacing do not make a different request); other bytes as sent."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes: as sent
        return body


async def _idempotent_request(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x20-\x7e]+$",
            description="A unique value you choose per create (a UUID), sent again with every retry of "
            "that create: a retry gets the first answer back (24 hours), never a second resource. 1–255 "
            "printable ASCII characters.",
        ),
    ] = None,
) -> IdempotentRequest | None:
    if key is None:
        return None
    route = request.scope["route"].path_format
    material = b"\n".join(
        (
            request.method.encode(),
            route.encode(),
            request.url.path.encode(),
            "&".join(sorted(request.url.query.split("&"))).encode(),
            hashlib.sha256(_canonical_body(await request.body())).digest(),
        )
    )
    return IdempotentRequest(key, idempotency.fingerprint(get_settings().secret_key, material), route)


def _creates(path: str, kwargs: dict[str, Any]) -> bool:
    return (
        set(kwargs.get("methods") or ()) == {"POST"}
        and kwargs.get("status_code") == 201
        and path not in OWN_IDEMPOTENCY
    )


def _sent(answer: idempotency.Answer, *, replayed: bool) -> Response:
    headers = {**answer.headers, REPLAYED: "true"} if replayed else answer.headers
    return Response(answer.body, answer.status_code, headers)


def _answer(
    result: Any, arguments: dict[str, Any], status_code: int, body: TypeAdapter[Any]
) -> idempotency.Answer:
    """The route's answer as it will be sent: its status, the headers it set, its body's bytes."""
    if isinstance(result, Response):
        headers = {name: value for name, value in result.headers.items() if name != "content-length"}
        return idempotency.Answer(result.status_code, headers, bytes(result.body))
    headers = {"content-type": "application/json"}
    for value in arguments.values():
        if isinstance(value, Response):  # the route's `response: Response`, where it sets ETag, Location…
            headers.update((name, v) for name, v in value.headers.items() if name != "content-length")
            status_code = value.status_code or status_code
    return idempotency.Answer(
        status_code, headers, body.dump_json(body.validate_python(result, from_attributes=True))
    )


def _replayed(
    actor: Actor, request: IdempotentRequest, held: idempotency.Claim, arguments: dict[str, Any]
) -> None:
    patient_id = arguments.get("patient_id") if actor.kind != "patient" else actor.id
    audit.record(
        current_unit().session,
        actor,
        "request.replayed",
        "idempotency_key",
        held.row_id,
        patient_id if isinstance(patient_id, uuid.UUID) else None,
        f"POST {request.route}",
    )


def honour_idempotency_key(
    endpoint: Callable[..., Any], path: str, kwargs: dict[str, Any]
) -> Callable[..., Any]:
    """The endpoint of a creating POST made idempotent by key (see the module); any other unchanged.
    Adds the 409 to the route's documented responses in `kwargs`."""
    if inspect.iscoroutinefunction(endpoint) or getattr(endpoint, _MARK, False) or not _creates(path, kwargs):
        return endpoint
    kwargs["responses"] = {**_DOCUMENTED, **(kwargs.get("responses") or {})}
    body = TypeAdapter(kwargs["response_model"])
    status_code = kwargs["status_code"]

    @functools.wraps(endpoint)
    def idempotent(*, idempotent_request: IdempotentRequest | None, **arguments: Any) -> Any:
        if idempotent_request is None:
            return endpoint(**arguments)
        actor = next(value for value in arguments.values() if isinstance(value, Actor))
        session = current_unit().session
        secret = get_settings().secret_key
        held = idempotency.claim(
            session, secret, actor, idempotent_request.key, idempotent_request.fingerprint, utcnow()
        )
        if held.replay is not None:
            _replayed(actor, idempotent_request, held, arguments)
            return _sent(held.replay, replayed=True)
        answer = _answer(endpoint(**arguments), arguments, status_code, body)
        idempotency.store(session, held, answer)
        return _sent(answer, replayed=False)

    signature = inspect.signature(endpoint)
    extra = inspect.Parameter(
        _PARAMETER,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[IdempotentRequest | None, Depends(_idempotent_request)],
    )
    idempotent.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    setattr(idempotent, _MARK, True)
    return idempotent
