"""A real webhook receiver for the tests: a uvicorn app on 127.0.0.1 that verifies every message with the
`standardwebhooks` library, as an integrator's receiver would, and keeps what arrived."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import free_port, wait_until


@dataclass
class Received:
    hook: str
    message_id: str
    payload: dict
    signatures: int


@dataclass
class Hook:
    secrets: list[str]
    status: int = 200
    gate: threading.Event | None = None  # when set up, requests wait until it is opened
    arrived: int = 0


@dataclass
class Receiver:
    """A uvicorn app on 127.0.0.1 that verifies each message against every secret it was given."""

    port: int = field(default_factory=free_port)
    tls: tuple[Path, Path] | None = None  # key and certificate: serve https
    hosts: list[str] = field(default_factory=list)  # Host headers seen
    hooks: dict[str, Hook] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    def add(self, name: str, secret: str, **options) -> str:
        self.hooks[name] = Hook(secrets=[secret], **options)
        return self.url(name)

    def messages(self, name: str) -> list[Received]:
        with self._lock:
            return [message for message in self.received if message.hook == name]

    async def _handle(self, request: Request) -> Response:
        hook = self.hooks[request.path_params["name"]]
        body = await request.body()
        headers = dict(request.headers)
        self.hosts.append(headers["host"])
        try:
            payload = [Webhook(secret).verify(body, headers) for secret in hook.secrets][0]
        except WebhookVerificationError as exc:
            with self._lock:
                self.refused.append(str(exc))
            return Response(status_code=400)
        with self._lock:
            hook.arrived += 1
            self.received.append(
                Received(
                    request.path_params["name"],
                    headers["webhook-id"],
                    payload,
                    len(headers["webhook-signature"].split(" ")),
                )
            )
        if hook.gate is not None:
            await anyio.to_thread.run_sync(hook.gate.wait, 30)
        return Response(status_code=hook.status)

    def start(self) -> None:
        app = Starlette(routes=[Route("/hooks/{name}", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_keyfile=self.tls and str(self.tls[0]),
            ssl_certfile=self.tls and str(self.tls[1]),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10)

    def stop(self) -> None:
        for hook in self.hooks.values():
            if hook.gate is not None:
                hook.gate.set()
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
