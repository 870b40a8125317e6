"""The baseline: a bare FastAPI app answering the benchmarked paths with the API's own bytes, from memory.

BENCH_BARE_RESPONSES names a JSON file {endpoint: {status, body, etag}} captured from the real API.
    uvicorn bench.bare_app:create_app --factory
"""

import json
import os

from fastapi import FastAPI, Header, Response


def create_app() -> FastAPI:
    with open(os.environ["BENCH_BARE_RESPONSES"]) as file:
        captured = json.load(file)
    bodies = {name: entry["body"].encode() for name, entry in captured.items()}
    etag = captured["programme"]["etag"]
    app = FastAPI()

    @app.get("/v1/me/plan")
    def plan() -> Response:
        return Response(bodies["plan"], media_type="application/json")

    @app.get("/v1/me/programmes/{programme_id}")
    def programme(programme_id: str, if_none_match: str | None = Header(None)) -> Response:
        if if_none_match is not None:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(bodies["programme"], media_type="application/json", headers={"ETag": etag})

    @app.post("/v1/me/sessions")
    def log() -> Response:
        return Response(bodies["log"], status_code=201, media_type="application/json")

    @app.get("/v1/exercises")
    def exercises(q: str | None = None) -> Response:
        return Response(bodies["exercises"], media_type="application/json")

    @app.get("/v1/patients/{patient_id}/adherence")
    def adherence(patient_id: str) -> Response:
        return Response(bodies["adherence"], media_type="application/json")

    return app
