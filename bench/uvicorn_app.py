"""The model server's own `App` behind ASGI, so bench/serve.py can have uvicorn serve it.

Only the HTTP layer differs from `model-rollout serve`: the same routes, model, metrics and JSON
code answer, so the bench compares our hand-kept HTTP/1.1 server with uvicorn's (httptools, uvloop).

    uvicorn --factory uvicorn_app:create --app-dir bench --http httptools --loop uvloop
    (the model is read from BENCH_MODEL_URI)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from modelrollout.models import loading
from modelrollout.serving import app, config, http, metrics

Scope = dict[str, Any]
Message = dict[str, Any]
Asgi = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def create() -> Asgi:
    uri = os.environ["BENCH_MODEL_URI"]
    settings = config.ServeConfig(model_uri=uri, model_name="iris")
    model = loading.load_model(uri=uri, format="skops", name="iris")
    application = app.App(
        model=model,
        settings=settings,
        meters=metrics.Metrics(settings=settings, digest=model.digest),
    )

    async def asgi(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":  # lifespan: nothing to start or stop
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        request = http.Request(
            method=scope["method"],
            path=scope["path"],
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        result = application.handle(request)
        response = result if isinstance(result, http.Response) else await result
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),  # else uvicorn sends chunked
        ]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    return asgi
