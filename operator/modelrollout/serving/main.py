"""`model-rollout serve`: parse the settings, load the model, then hand over to the workers.

A model that fails to load, or an address that cannot be bound, ends the process with a clear
log line and a non-zero exit, so the pod never becomes Ready and never receives traffic.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from modelrollout.serving import config, sockets

log = logging.getLogger("modelrollout.serving")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        settings = config.parse(argv)
    except config.ConfigError as e:
        log.error("model-rollout serve: %s", e)  # noqa: TRY400 - the message says it all
        return 2
    if settings.workers > 1:
        # prometheus_client picks its storage when first imported: a per-server directory,
        # set before that import, lets every worker's counts be summed on /metrics.
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="model-rollout-metrics-")
    # Imported after the settings are checked: scikit-learn takes seconds to import.
    from modelrollout.models import loading  # noqa: PLC0415

    try:
        model = loading.load_model(
            uri=settings.model_uri,
            format=settings.format,
            sha256=settings.sha256,
            allow_unsafe_pickle=settings.allow_unsafe_pickle,
            name=settings.model_name,
        )
    except loading.ModelLoadError as e:
        log.error("model-rollout serve: %s", e)  # noqa: TRY400 - the message says it all
        return 1
    from modelrollout.serving import inputs  # noqa: PLC0415 - prometheus_client, as below

    try:
        reference = inputs.Reference.load(settings)
    except inputs.ReferenceError as e:
        log.error("model-rollout serve: %s", e)  # noqa: TRY400 - the message says it all
        return 1
    try:
        reservation = sockets.reserve(settings.host, settings.port)
        if settings.grpc_port:
            sockets.reserve(settings.host, settings.grpc_port).close()  # fail now, not in a worker
    except OSError as e:
        log.error(  # noqa: TRY400 - the message says it all
            "model-rollout serve: cannot listen on %s:%d or %d (%s); choose another --host, "
            "--port or --grpc-port",
            settings.host, settings.port, settings.grpc_port, e,
        )  # fmt: skip
        return 1
    log.info(
        "serving model %r version %r (%s, %s, sha256 %s) on http://%s:%d%s with %d worker(s), "
        "track %s, namespace %s",
        settings.model_name, settings.model_version, model.kind, model.format, model.digest,
        settings.host, settings.port,
        f" and gRPC port {settings.grpc_port}" if settings.grpc_port else "",
        settings.workers, settings.track, settings.namespace,
    )  # fmt: skip
    # Imported only now: it imports prometheus_client, which must see the directory set above.
    from modelrollout.serving import workers  # noqa: PLC0415

    return workers.run(settings=settings, model=model, reservation=reservation, reference=reference)
