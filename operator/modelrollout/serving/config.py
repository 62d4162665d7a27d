"""The model server's settings: command-line flags, each also read from `MODEL_ROLLOUT_<FLAG>`.

A flag on the command line wins over the environment, which wins over the default. The feedback
token itself is read from MODEL_ROLLOUT_FEEDBACK_TOKEN or from --feedback-token-file, never a flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

from modelrollout import models
from modelrollout.serving import feedback

ENV_PREFIX = "MODEL_ROLLOUT_"
TRACKS = ("stable", "canary")
# A 32-row request is a few kilobytes; 16 MiB leaves room for big batches while a runaway client
# cannot make a worker buffer gigabytes.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    model_uri: str
    model_name: str = "model"
    model_version: str = "1"
    format: str = "skops"
    sha256: str | None = None
    allow_unsafe_pickle: bool = False
    host: str = "0.0.0.0"  # noqa: S104 - a pod serves on its own address
    port: int = 8080
    # Off unless asked for: the operator's pods ask for it (8081, as KServe and MLServer use).
    grpc_port: int = 0
    workers: int = 1
    track: str = "stable"
    namespace: str = "default"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    feedback_max_bytes: int = feedback.MAX_BYTES
    feedback_max_age_seconds: int = feedback.MAX_AGE_SECONDS
    # From the environment or a file (no flag), so the secret is not in the process list; never
    # shown.
    feedback_token: str | None = dataclasses.field(default=None, repr=False)
    feedback_token_file: str | None = None
    # A client that trickles a head holds a connection; 10 s is ample for any real one on a
    # cluster network. An idle keep-alive connection is kept longer, for a gateway's pool.
    head_timeout_seconds: float = 10.0
    idle_timeout_seconds: float = 60.0
    # Per worker: far more than a gateway's pool needs; the open-file limit must allow as many.
    max_connections: int = 4096
    # Shadowing (serving/shadow.py): where a stable sends copies of its requests, and, on the
    # shadow, the share of them it asks for (0: not a shadow).
    shadow_url: str | None = None
    mirror_percent: int = 0
    # Drift monitoring (serving/inputs.py): the reference dataset live inputs are binned against.
    reference_uri: str | None = None
    reference_format: str = "csv"
    reference_target: str | None = None
    drift_bins: int = 10


class ConfigError(Exception):
    """A flag or environment variable has a value the server cannot use."""


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="model-rollout serve",
        description="Serve one model over the Open Inference Protocol v2 (REST, and gRPC with "
        "--grpc-port), with feedback "
        "and Prometheus metrics. Every flag can also be set as MODEL_ROLLOUT_<FLAG_NAME>.",
    )
    p.add_argument("--model-uri", help="file://, http(s)://, s3:// or pvc://<claim>/<path>")
    p.add_argument("--model-name", help="name in the /v2/models/<name> routes and metric labels")
    p.add_argument("--model-version", help="version reported in metadata and metric labels")
    p.add_argument("--format", choices=models.FORMATS, help="artifact format (default skops)")
    p.add_argument("--sha256", help="refuse the artifact unless its sha256 matches")
    p.add_argument(
        "--allow-unsafe-pickle",
        action="store_const",
        const="true",
        help="allow joblib/pickle artifacts, which run code when loaded",
    )
    p.add_argument("--host", help="address to bind (default 0.0.0.0)")
    p.add_argument("--port", help="TCP port (default 8080)")
    p.add_argument(
        "--grpc-port",
        help="TCP port for the Open Inference Protocol v2 over gRPC (default 0: no gRPC)",
    )
    p.add_argument("--workers", help="worker processes (default 1)")
    p.add_argument("--track", choices=TRACKS, help="stable or canary, for metric labels")
    p.add_argument("--namespace", help="Kubernetes namespace, for metric labels")
    p.add_argument("--max-body-bytes", help="larger request bodies get 413")
    p.add_argument(
        "--feedback-max-bytes",
        help="approximate bytes of predictions each worker keeps for feedback, oldest evicted "
        f"first (default {feedback.MAX_BYTES})",
    )
    p.add_argument(
        "--feedback-max-age-seconds",
        help="predictions older than this get no feedback and are dropped "
        f"(default {feedback.MAX_AGE_SECONDS})",
    )
    p.add_argument(
        "--feedback-token-file",
        help="a file (a mounted Secret) holding the token that feedback must carry as "
        "'Authorization: Bearer <token>'; or set the token in MODEL_ROLLOUT_FEEDBACK_TOKEN",
    )
    p.add_argument(
        "--head-timeout-seconds",
        help="a request line and headers not received in this time get 408 (default 10)",
    )
    p.add_argument(
        "--idle-timeout-seconds",
        help="close a keep-alive connection idle this long; also the time for a body (default 60)",
    )
    p.add_argument(
        "--max-connections",
        help="open connections per worker; more are closed at once (default 4096)",
    )
    p.add_argument(
        "--shadow-url",
        help="http://host:port of a shadow version (the <name>-shadow Service): copies of a share "
        "of requests go there from a background thread, as much as it asks for on /v2/shadow",
    )
    p.add_argument(
        "--mirror-percent",
        help="as a shadow, the percent of the stable's requests to ask for (0..100, default 0)",
    )
    p.add_argument(
        "--reference-uri",
        help="a dataset (csv or parquet; file://, http(s)://, s3://, pvc://) whose feature columns, "
        "in the order of the input tensor's columns, fix the bins live inputs are counted in",
    )
    p.add_argument("--reference-format", choices=("csv", "parquet"), help="default csv")
    p.add_argument("--reference-target", help="the reference's label column, left out")
    p.add_argument("--drift-bins", help="equal-frequency bins per feature (2..50, default 10)")
    return p


def parse(argv: Sequence[str]) -> ServeConfig:
    """Build the settings from flags and environment; raises ConfigError naming the bad value."""
    args = vars(_parser().parse_args(list(argv)))
    values: dict[str, str] = {}
    for field in dataclasses.fields(ServeConfig):
        raw = args.get(field.name)
        if raw is None:
            raw = _env(field.name)
        if raw is not None:
            values[field.name] = raw
    if not values.get("model_uri"):
        raise ConfigError(
            "no model to serve: pass --model-uri (or set MODEL_ROLLOUT_MODEL_URI) to "
            "file://, http(s)://, s3:// or pvc://<claim>/<path>"
        )
    port = _int("port", values.get("port", "8080"), low=1, high=65535)
    return ServeConfig(
        model_uri=values["model_uri"],
        model_name=values.get("model_name", "model"),
        model_version=values.get("model_version", "1"),
        format=_choice("format", values.get("format", "skops"), models.FORMATS),
        sha256=values.get("sha256") or None,
        allow_unsafe_pickle=_bool("allow_unsafe_pickle", values.get("allow_unsafe_pickle", "")),
        host=values.get("host", ServeConfig.host),
        port=port,
        grpc_port=_grpc_port(values.get("grpc_port", "0"), http_port=port),
        workers=_int("workers", values.get("workers", "1"), low=1, high=64),
        track=_choice("track", values.get("track", "stable"), TRACKS),
        namespace=values.get("namespace", "default"),
        max_body_bytes=_int(
            "max_body_bytes", values.get("max_body_bytes", str(DEFAULT_MAX_BODY_BYTES)), low=1
        ),
        feedback_max_bytes=_int(
            "feedback_max_bytes", values.get("feedback_max_bytes", str(feedback.MAX_BYTES)), low=1
        ),
        feedback_max_age_seconds=_int(
            "feedback_max_age_seconds",
            values.get("feedback_max_age_seconds", str(feedback.MAX_AGE_SECONDS)),
            low=1,
        ),
        feedback_token=_token(values.get("feedback_token"), values.get("feedback_token_file")),
        feedback_token_file=values.get("feedback_token_file") or None,
        head_timeout_seconds=_seconds("head_timeout_seconds", values.get("head_timeout_seconds")),
        idle_timeout_seconds=_seconds("idle_timeout_seconds", values.get("idle_timeout_seconds")),
        max_connections=_int(
            "max_connections",
            values.get("max_connections", str(ServeConfig.max_connections)),
            low=1,
        ),
        shadow_url=_shadow_url(values.get("shadow_url")),
        mirror_percent=_int("mirror_percent", values.get("mirror_percent", "0"), low=0, high=100),
        reference_uri=values.get("reference_uri") or None,
        reference_format=_choice(
            "reference_format", values.get("reference_format", "csv"), ("csv", "parquet")
        ),
        reference_target=values.get("reference_target") or None,
        drift_bins=_int("drift_bins", values.get("drift_bins", "10"), low=2, high=50),
    )


def _shadow_url(raw: str | None) -> str | None:
    if not raw:
        return None
    if re.fullmatch(r"http://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", raw) is None:
        raise ConfigError(
            f"{_where('shadow_url')} is {raw!r}; it must be http://host[:port] with no path, "
            "e.g. http://iris-shadow:8080"
        )
    return raw.rstrip("/")


def _grpc_port(raw: str, *, http_port: int) -> int:
    if raw.strip() == "0":
        return 0
    port = _int("grpc_port", raw, low=1, high=65535)
    if port == http_port:
        raise ConfigError(
            f"{_where('grpc_port')} is {raw!r}, the port REST is served on; choose another "
            "(8081 is usual), or 0 for no gRPC"
        )
    return port


def _token(value: str | None, path: str | None) -> str | None:
    if value is not None and path:
        raise ConfigError(
            f"the feedback token is set both in {ENV_PREFIX}FEEDBACK_TOKEN and as "
            f"{_where('feedback_token_file')}; set one"
        )
    where = f"{ENV_PREFIX}FEEDBACK_TOKEN"
    if path:
        where = f"the file {path!r} of {_where('feedback_token_file')}"
        try:
            # A Secret's file often ends in a newline that no client sends.
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"{where} cannot be read ({e}); mount the Secret there or drop the setting"
            ) from e
    if value is None:
        return None
    # Empty is refused, not read as "no token": a Secret with an empty key would otherwise turn
    # authentication off without a word. Spaces or non-ASCII could never match a header.
    if not value or not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(
            f"{where} holds no usable feedback token: it must be one word of printable ASCII"
        )
    return value


def _where(name: str) -> str:
    flag = "--" + name.replace("_", "-")
    return f"{flag} (or {ENV_PREFIX}{name.upper()})"


def _int(name: str, raw: str, *, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{_where(name)} is {raw!r}; it must be a whole number {bounds}")
    return value


def _seconds(name: str, raw: str | None) -> float:
    default: float = getattr(ServeConfig, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0.05 <= value <= 86400:  # also refuses nan
        raise ConfigError(f"{_where(name)} is {raw!r}; it must be seconds from 0.05 to 86400")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ConfigError(f"{_where(name)} is {raw!r}; use true or false")


def _choice(name: str, raw: str, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise ConfigError(f"{_where(name)} is {raw!r}; use one of {', '.join(choices)}")
    return raw
