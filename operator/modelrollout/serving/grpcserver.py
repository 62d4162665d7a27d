"""The Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`), on grpc.aio.

Each worker serves it on its own event loop beside REST, through the same `App`: the same model,
the same metrics (a call counts in model_requests_total under the HTTP status of its outcome, so
error-rate queries see both protocols) and the same feedback store, so REST feedback scores a
gRPC prediction by its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import numpy as np

from modelrollout import __version__
from modelrollout.serving import app as app_mod
from modelrollout.serving import grpc_messages as pb
from modelrollout.serving import metadata, protocol, rawdata

log = logging.getLogger("modelrollout.serving")
# The HTTP status a RequestError carries, as the gRPC status a client reads.
STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
# Where each datatype's values sit in InferTensorContents, and how numpy holds them.
CONTENTS = {
    "FP32": ("fp32_contents", np.float32),
    "FP64": ("fp64_contents", np.float64),
    "INT32": ("int_contents", np.int32),
    "INT64": ("int64_contents", np.int64),
    "BYTES": ("bytes_contents", object),
}
_ALL_CONTENTS = [f.name for f in pb.InferTensorContents.DESCRIPTOR.fields]
Context = grpc.aio.ServicerContext[Any, Any]


class Service:
    """The six unary RPCs, each answering from `application`."""

    def __init__(self, application: app_mod.App) -> None:
        self.app = application

    async def ServerLive(self, request: Any, context: Context) -> Any:  # noqa: N802 - RPC names
        return pb.CLASSES["ServerLiveResponse"](live=True)

    async def ServerReady(self, request: Any, context: Context) -> Any:  # noqa: N802
        return pb.CLASSES["ServerReadyResponse"](ready=not self.app.draining)

    async def ServerMetadata(self, request: Any, context: Context) -> Any:  # noqa: N802
        return pb.CLASSES["ServerMetadataResponse"](
            name=metadata.SERVER["name"], version=__version__, extensions=["feedback"]
        )

    async def ModelReady(self, request: Any, context: Context) -> Any:  # noqa: N802
        await self._known(request.name, request.version, context)
        return pb.CLASSES["ModelReadyResponse"](ready=not self.app.draining)

    async def ModelMetadata(self, request: Any, context: Context) -> Any:  # noqa: N802
        await self._known(request.name, request.version, context)
        doc = self.app.model_metadata
        tensors = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=doc["name"],
            versions=doc["versions"],
            platform=doc["platform"],
            inputs=[tensors(**t) for t in doc["inputs"]],
            outputs=[tensors(**t) for t in doc["outputs"]],
        )

    async def ModelInfer(self, request: Any, context: Context) -> Any:  # noqa: N802
        start = time.perf_counter()
        status, message, response = 200, "", None
        try:
            response = self._infer(request)
        except protocol.RequestError as e:
            status, message = e.status, e.message
        except Exception:
            log.exception("inference failed")
            status, message = 500, f"model {self.app.model.name!r} failed; see the server log"
        self.app.meters.request(code=status, seconds=time.perf_counter() - start)
        if response is None:
            await context.abort(STATUS.get(status, grpc.StatusCode.INTERNAL), message)
        return response

    async def _known(self, name: str, version: str, context: Context) -> None:
        problem = self.app.unknown_model(name, version or None)
        if problem:
            await context.abort(grpc.StatusCode.NOT_FOUND, problem)

    def _infer(self, request: Any) -> Any:
        app = self.app
        problem = app.unknown_model(request.model_name, request.model_version or None)
        if problem:
            raise protocol.RequestError(404, problem)
        given = request.id or None
        if given is not None:
            protocol.request_id(given, where="the request's 'id'")
        raw = request.raw_input_contents
        if not request.inputs:
            raise protocol.RequestError(400, "'inputs' must be a non-empty list of tensors")
        if raw and len(raw) != len(request.inputs):
            raise protocol.RequestError(
                400,
                f"raw_input_contents holds {len(raw)} entries but the request has "
                f"{len(request.inputs)} inputs; send one entry per input, in order",
            )
        tensors = [
            _tensor(t, index=i, raw=raw[i] if raw else None) for i, t in enumerate(request.inputs)
        ]
        names = tuple(o.name for o in request.outputs) or ("predict",)
        protocol.check_outputs(names, app.model)
        decoded = protocol.InferRequest(
            id=given, rows=protocol.rows_of(tensors, app.model), outputs=names
        )
        result = app.predict(decoded, fallback_id=None)
        response = pb.ModelInferResponse(
            model_name=app.settings.model_name,
            model_version=app.settings.model_version,
            id=result.id,
        )
        for name, array in result.outputs.items():
            datatype = protocol.datatype_of(array)
            response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            response.raw_output_contents.append(rawdata.from_array(array, datatype=datatype))
        return response


def _tensor(spec: Any, *, index: int, raw: bytes | None) -> tuple[str, np.ndarray]:
    name = spec.name or f"input-{index}"
    where = f"input {protocol.shown(name)}"
    shape, datatype = protocol.check_header(
        shape=list(spec.shape), datatype=spec.datatype, where=where
    )
    given = [field for field in _ALL_CONTENTS if getattr(spec.contents, field)]
    if raw is not None:
        if given:
            raise protocol.RequestError(
                400, f"{where}: has both contents and raw_input_contents; send one"
            )
        return name, protocol.from_bytes(raw, datatype=datatype, shape=shape, where=where)
    field, dtype = CONTENTS[datatype]
    if not given:
        raise protocol.RequestError(
            400, f"{where}: no data; send it in raw_input_contents or in contents.{field}"
        )
    if given != [field]:
        raise protocol.RequestError(
            400,
            f"{where}: datatype {datatype} takes its values in contents.{field}, not "
            f"{', '.join('contents.' + g for g in given)}",
        )
    values = getattr(spec.contents, field)
    if datatype == "BYTES":
        try:
            values = [v.decode("utf-8") for v in values]
        except UnicodeDecodeError as e:
            raise protocol.RequestError(400, f"{where}: an element is not UTF-8 text") from e
    array = np.asarray(values, dtype=dtype)
    return name, protocol.from_values(array, datatype=datatype, shape=shape, where=where)


def handler(service: Service) -> grpc.GenericRpcHandler:
    methods = {}
    for method, (request, response) in pb.METHODS.items():
        behaviour: Callable[[Any, Context], Awaitable[Any]] = getattr(service, method)
        methods[method] = grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=pb.CLASSES[request].FromString,
            response_serializer=pb.CLASSES[response].SerializeToString,
        )
    return grpc.method_handlers_generic_handler(pb.SERVICE, methods)


async def serve(
    application: app_mod.App,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    stop: asyncio.Event,
    drain_seconds: float,
) -> None:
    """Serve gRPC on host:port until `stop` is set, then let calls in flight finish."""
    server = grpc.aio.server(
        options=[
            # As REST's --max-body-bytes: a bigger message gets RESOURCE_EXHAUSTED unread.
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 1),  # every worker listens on the port, as for REST
        ]
    )
    server.add_generic_rpc_handlers((handler(Service(application)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.add_insecure_port(address)
    await server.start()
    await stop.wait()
    await server.stop(grace=drain_seconds)
