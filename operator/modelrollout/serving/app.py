"""The model server's routes: Open Inference Protocol v2 REST, feedback, and /metrics.

`App.handle` turns one `http.Request` into a `http.Response`; only feedback that another worker
must answer returns an awaitable. No request can make it raise: failures become JSON errors.
`App.predict` is the inference both REST and gRPC (`serving.grpcserver`) answer with, so both
count in the same metrics and keep predictions for the same feedback route.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelrollout.models import loading
from modelrollout.serving import (
    config,
    feedback,
    http,
    inputs,
    metadata,
    metrics,
    peers,
    protocol,
    shadow,
)

log = logging.getLogger("modelrollout.serving")


def error(status: int, message: str, *, headers: tuple[tuple[str, str], ...] = ()) -> http.Response:
    return http.Response(status, orjson.dumps({"error": message}), headers=headers)


def ok(doc: dict[str, Any], *, headers: tuple[tuple[str, str], ...] = ()) -> http.Response:
    return http.Response(200, protocol.dumps(doc), headers=headers)


@dataclasses.dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    outputs: dict[str, np.ndarray]  # by output name, in the order asked for


class App:
    def __init__(
        self,
        *,
        model: loading.LoadedModel,
        settings: config.ServeConfig,
        meters: metrics.Metrics,
        peer_sockets: Sequence[Path] = (),
        mirror: shadow.Mirror | None = None,
        input_bins: inputs.InputBins | None = None,
    ) -> None:
        self.model, self.settings, self.meters = model, settings, meters
        self.mirror, self.input_bins = mirror, input_bins
        self.store = feedback.FeedbackStore(
            max_bytes=settings.feedback_max_bytes,
            max_age_seconds=settings.feedback_max_age_seconds,
        )
        self.peer_sockets = list(peer_sockets)
        self.draining = False
        name, version = settings.model_name, settings.model_version
        self._infer_paths = {
            f"/v2/models/{name}/infer",
            f"/v2/models/{name}/versions/{version}/infer",
        }
        self.model_metadata = metadata.model_metadata(
            model, settings=settings, label_type=metadata.warm_up(model)
        )

    def handle(self, req: http.Request) -> http.Response | Awaitable[http.Response]:
        if req.path in self._infer_paths and req.method == "POST" and not req.oversize:
            return self.infer(req)  # the hot path, before any general routing
        try:
            return self._route(req)
        except protocol.RequestError as e:
            return error(e.status, e.message)
        except Exception:
            log.exception("unexpected error on %s %s", req.method, req.path)
            return error(
                500,
                f"internal error on {req.method} {protocol.shown(req.path)}; see the server log",
            )

    def _route(  # noqa: PLR0911 - a router returns from each route
        self, req: http.Request
    ) -> http.Response | Awaitable[http.Response]:
        parts = req.path.strip("/").split("/")
        is_infer = (
            len(parts) >= 4 and parts[0] == "v2" and parts[1] == "models" and parts[-1] == "infer"
        )
        if req.oversize:
            response = error(
                413,
                f"the request body is larger than {self.settings.max_body_bytes} bytes; send "
                "fewer rows per request or raise --max-body-bytes",
            )
            if is_infer:
                self.meters.request(code=413, seconds=0.0)
            return response
        if parts == ["metrics"]:
            _method(req, "GET")
            # An idle server's store still ages: evict now so the gauges say what is held.
            self.store.expire()
            self.meters.feedback_store(self.store)
            return http.Response(200, self.meters.render(), content_type=metrics.CONTENT_TYPE)
        if parts[:1] != ["v2"] and parts != ["internal", "feedback"]:
            raise protocol.RequestError(
                404, f"no route {protocol.shown(req.path)}; the API lives under /v2"
            )
        if parts == ["v2"]:
            _method(req, "GET")
            return ok(metadata.SERVER)
        if parts == ["v2", "shadow"]:
            _method(req, "GET")
            return self._shadow()
        if parts[:2] == ["v2", "health"] and len(parts) == 3 and parts[2] in ("live", "ready"):
            _method(req, "GET")
            if parts[2] == "live":
                return ok({"live": True})
            return self._readiness({"ready": not self.draining})
        if parts == ["internal", "feedback"] and req.internal:
            return self._feedback_local(req.body) or self._not_kept(feedback.decode(req.body).id)
        if parts[:2] == ["v2", "models"] and len(parts) >= 3:
            return self._model_route(req, parts[2:], is_infer=is_infer)
        raise protocol.RequestError(404, f"no route {protocol.shown(req.path)}")

    def _model_route(
        self, req: http.Request, rest: list[str], *, is_infer: bool
    ) -> http.Response | Awaitable[http.Response]:
        name, rest = rest[0], rest[1:]
        version = None
        if rest[:1] == ["versions"] and len(rest) >= 2:
            version, rest = rest[1], rest[2:]
        action = rest[0] if len(rest) == 1 else ("" if not rest else None)
        if action not in ("", "ready", "infer", "feedback"):
            raise protocol.RequestError(404, f"no route {protocol.shown(req.path)}")
        problem = self.unknown_model(name, version)
        if problem:
            if is_infer:
                self.meters.request(code=404, seconds=0.0)
            raise protocol.RequestError(404, problem)
        if action == "infer":
            _method(req, "POST")
            return self.infer(req)
        if action == "feedback":
            _method(req, "POST")
            return self.feedback(req)
        _method(req, "GET")
        if action == "ready":
            return self._readiness({"name": name, "ready": not self.draining})
        return ok(self.model_metadata)

    def unknown_model(self, name: str, version: str | None) -> str | None:
        s = self.settings
        if name != s.model_name:
            return (
                f"model {protocol.shown(name)} is not served here; this server serves "
                f"{s.model_name!r}"
            )
        if version is not None and version != s.model_version:
            return (
                f"model {name!r} has no version {protocol.shown(version)} here; this server serves "
                f"version {s.model_version!r}"
            )
        return None

    def _shadow(self) -> http.Response:
        # What a stable's mirror polls (serving/shadow.py): the share this shadow asks for.
        if self.settings.mirror_percent <= 0:
            return error(404, "this server is not a shadow (--mirror-percent is 0)")
        return ok({"mirror": self.settings.mirror_percent, "version": self.settings.model_version})

    def _readiness(self, doc: dict[str, Any]) -> http.Response:
        return http.Response(200 if not self.draining else 503, orjson.dumps(doc))

    def infer(self, req: http.Request) -> http.Response:
        start = time.perf_counter()
        try:
            response = self._infer(req)
        except protocol.RequestError as e:
            response = error(e.status, e.message)
        except Exception:
            log.exception("inference failed")
            response = error(500, f"model {self.model.name!r} failed; see the server log")
        self.meters.request(code=response.status, seconds=time.perf_counter() - start)
        return response

    def _infer(self, req: http.Request) -> http.Response:
        header_length = req.headers.get(protocol.HEADER_LENGTH)
        protocol.json_body(req.headers.get("content-type"), binary=header_length is not None)
        header = req.headers.get("x-request-id")
        if header is not None:
            protocol.request_id(header, where="the x-request-id header")
        decoded = protocol.decode_infer(req.body, model=self.model, header_length=header_length)
        result = self.predict(decoded, fallback_id=header, copy_of=req.body)
        doc: dict[str, Any] = {
            "model_name": self.settings.model_name,
            "model_version": self.settings.model_version,
            "id": result.id,
            "outputs": [],
        }
        headers = (("x-request-id", result.id),)
        if not decoded.binary_outputs:
            doc["outputs"] = [protocol.tensor(n, a) for n, a in result.outputs.items()]
            return ok(doc, headers=headers)
        blobs = []
        for name, array in result.outputs.items():
            if name in decoded.binary_outputs:
                entry, raw = protocol.binary_tensor(name, array)
                blobs.append(raw)
            else:
                entry = protocol.tensor(name, array)
            doc["outputs"].append(entry)
        head = protocol.dumps(doc)
        return http.Response(
            200,
            head + b"".join(blobs),
            content_type=protocol.BINARY_MEDIA,
            headers=(*headers, (protocol.HEADER_LENGTH, str(len(head)))),
        )

    def predict(
        self,
        decoded: protocol.InferRequest,
        *,
        fallback_id: str | None,
        copy_of: bytes | None = None,
    ) -> Prediction:
        """Run the model on a decoded request and keep its predictions for feedback; `copy_of`, the
        REST body as the client sent it, is what a shadow is offered (gRPC requests are not copied)."""
        model = self.model
        given = decoded.id or fallback_id
        if given is not None and given in self.store:
            # Without this a client could replace another's predictions, and so its feedback.
            raise protocol.RequestError(
                409,
                f"request id {given!r} belongs to an earlier request still awaiting feedback; "
                "send a fresh id per request, or none and use the id the server returns",
            )
        # Unguessable, so feedback cannot be sent for a request one did not make.
        request_id = given or secrets.token_hex(16)
        try:
            labels = model.predict(decoded.rows)
            proba = (
                model.predict_proba(decoded.rows) if "predict_proba" in decoded.outputs else None
            )
        except loading.ModelInputError as e:
            raise protocol.RequestError(400, str(e)) from e
        except (ValueError, TypeError) as e:
            if decoded.rows.dtype.kind in "OSU":
                # Strings the model could not take: the request's fault.
                raise protocol.RequestError(
                    400, f"model {model.name!r} rejected the input: {e}"
                ) from e
            # Numeric rows of the right shape: the model failed, not the client. A 400 here would
            # hide a broken model from every error-rate check (they count 5xx) and promote it.
            log.exception("model %r failed on a well-formed request", model.name)
            raise protocol.RequestError(
                500, f"model {model.name!r} failed on a well-formed input: {e}"
            ) from e
        self.store.put(request_id, labels)
        self.meters.feedback_store(self.store)
        if self.input_bins is not None:
            self.input_bins.count(decoded.rows)
        if self.mirror is not None and copy_of is not None:
            self.mirror.offer_infer(request_id=request_id, body=copy_of, labels=labels)
        if model.kind == "classifier":
            self.meters.predicted(labels)
        results = {"predict": labels, "predict_proba": proba}
        return Prediction(
            id=request_id,
            outputs={name: results[name] for name in decoded.outputs},  # type: ignore[misc]
        )

    def feedback(self, req: http.Request) -> http.Response | Awaitable[http.Response]:
        refused = self._unauthorized(req)
        if refused is not None:
            return refused
        protocol.json_body(req.headers.get("content-type"))
        found = self._feedback_local(req.body)
        if found is not None:
            return found
        request_id = feedback.decode(req.body).id
        if not self.peer_sockets:
            return self._not_kept(request_id)
        return self._feedback_from_peers(req.body, request_id)

    def _unauthorized(self, req: http.Request) -> http.Response | None:
        token = self.settings.feedback_token
        if token is None:
            return None
        scheme, _, given = req.headers.get("authorization", "").partition(" ")
        # compare_digest on bytes: it takes no time hint from the token, and no non-ASCII str.
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("latin-1"), token.encode()
        ):
            return None
        problem = "a different token" if scheme.lower() == "bearer" else "no bearer token"
        return error(
            401,
            "feedback on this server needs 'Authorization: Bearer <token>' with the server's "
            "feedback token (MODEL_ROLLOUT_FEEDBACK_TOKEN or --feedback-token-file); the request "
            f"had {problem}",
            headers=(("www-authenticate", "Bearer"),),
        )

    def _feedback_local(self, body: bytes) -> http.Response | None:
        fb = feedback.decode(body)
        predictions = self.store.take(fb.id)
        self.meters.feedback_store(self.store)
        if predictions is None:
            if self.store.was_answered(fb.id):
                raise protocol.RequestError(
                    409,
                    f"request id {fb.id!r} was already scored; feedback is counted once per "
                    "request, so this one was not",
                )
            return None
        try:
            score = feedback.score(
                kind=self.model.kind, predictions=predictions, truth=fb.truth, request_id=fb.id
            )
        except protocol.RequestError:
            # A malformed truth must not use up the id.
            self.store.put(fb.id, predictions)
            self.meters.feedback_store(self.store)
            raise
        self.store.answered(fb.id)
        self.meters.scored(score)
        if self.mirror is not None:
            self.mirror.offer_feedback(request_id=fb.id, body=body)
        return ok({"id": fb.id, "model_name": self.settings.model_name, **score.as_json()})

    async def _feedback_from_peers(self, body: bytes, request_id: str) -> http.Response:
        for sock in self.peer_sockets:
            answer = await peers.forward_feedback(sock, body)
            if answer is not None and answer.status != 404:
                return answer
        return self._not_kept(request_id)

    def _not_kept(self, request_id: str) -> http.Response:
        s = self.settings
        return error(
            404,
            f"no predictions are kept for request id {request_id!r}: it is unknown, or it was "
            f"dropped to keep its worker within {feedback.MAX_ENTRIES} requests, "
            f"{s.feedback_max_bytes} bytes (--feedback-max-bytes) or "
            f"{s.feedback_max_age_seconds} seconds (--feedback-max-age-seconds) of kept "
            "predictions; send feedback once per request, soon after it",
        )


def _method(req: http.Request, allowed: str) -> None:
    if req.method != allowed:
        raise protocol.RequestError(
            405, f"{protocol.shown(req.path)} takes {allowed}, not {req.method}"
        )
