"""Base classes and shared field types of the ModelDeployment API.

Every section model derives from `SpecModel` or `StatusModel`; rules are declared once as `Rule`s,
checked in Python and emitted as the CRD's `x-kubernetes-validations` (CEL): cross-field rules in a
model's `rules`, rules on one value as `Annotated` metadata of its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


@dataclass(frozen=True)
class Rule:
    """A rule: `cel` is what the API server evaluates, `check` the same rule in Python.

    In a model's `rules`, `self` is the object; as `Annotated[T, Rule(...)]` metadata of a field,
    `self` is the field's value (and `field_path` is not used: the API server names the field).
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def enforce(value: Any) -> Any:
            if not self.check(value):
                raise ValueError(self.message)
            return value

        return core_schema.no_info_after_validator_function(enforce, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler.resolve_ref_schema(handler(schema))
        out.setdefault("x-kubernetes-validations", []).append(
            {"rule": self.cel, "message": self.message}
        )
        return out


def exactly_one(*fields: str, message: str) -> Rule:
    """A model rule: exactly one of these optional fields (Python names) is set."""
    wire = ", ".join(f"has(self.{to_camel(f)})" for f in fields)
    return Rule(
        cel=f"[{wire}].filter(x, x).size() == 1",
        message=message,
        check=lambda obj: [getattr(obj, f) is not None for f in fields].count(True) == 1,
    )


def min_not_above_max() -> Rule:
    """A model rule: optional `min` and `max` bounds, the first not above the second."""
    return Rule(
        cel="!has(self.min) || !has(self.max) || self.min <= self.max",
        message="min must not exceed max",
        check=lambda b: b.min is None or b.max is None or b.min <= b.max,
    )


def _add_rules(schema: dict[str, Any], cls: type[Any]) -> None:
    rules: tuple[Rule, ...] = cls.__dict__.get("rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [
            {"rule": r.cel, "message": r.message}
            | ({"fieldPath": r.field_path} if r.field_path else {})
            for r in rules
        ]


class SpecModel(BaseModel):
    """A section of `spec`: camelCase on the wire, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        json_schema_extra=_add_rules,
    )
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> SpecModel:
        for rule in type(self).__dict__.get("rules", ()):
            if not rule.check(self):
                where = f"{rule.field_path.lstrip('.')}: " if rule.field_path else ""
                raise ValueError(where + rule.message)
        return self


class StatusModel(BaseModel):
    """A section of `status`: written by the operator; unknown (older or newer) fields are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
    )


# Go's time.ParseDuration syntax, which Kubernetes and Argo users already write ("90s", "1h30m"),
# without a sign. `[.]`, not an escaped dot, so the same text reads alike in CEL and in Python.
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$"
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")

# A CEL rule rather than an OpenAPI pattern, so that the API server's refusal says what to write.
Duration = Annotated[
    str,
    Field(max_length=32),
    Rule(
        cel=f"self.matches('{DURATION_PATTERN}')",
        message="must be a duration: a number and a unit (ns, us, ms, s, m or h) with no sign or "
        "spaces, e.g. 30s, 10m or 1h30m",
        check=lambda text: re.fullmatch(DURATION_PATTERN, text) is not None,
    ),
]
"""A Go-style duration string such as `30s`, `10m` or `1h30m`."""


def positive(message: str) -> Rule:
    """A rule refusing a zero duration (`0s`, `0m0s`); Duration's own rule refuses a negative one."""
    # Every part of a duration is at least zero, so it is positive exactly when some digit is not 0:
    # one regex, the same in CEL and in Python, with no duration arithmetic to overflow.
    return Rule(
        cel="self.matches('[1-9]')",
        message=message,
        check=lambda text: re.search("[1-9]", text) is not None,
    )


PositiveDuration = Annotated[Duration, positive("must be more than zero: write e.g. 30s or 10m")]
"""A Go-style duration that is more than zero."""


def parse_duration(text: str) -> timedelta:
    """Turn a Go-style duration (`1h30m`, `45s`, `250ms`) into a timedelta."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"duration {text!r} is not a Go-style duration: write e.g. '30s', '10m' or '1h30m'"
        )
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))


# Kubernetes label values: the model name and version end up in pod labels.
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, min_length=1, max_length=63)]

# Where models and datasets can come from; pvc://<claim>/<path> reads a PersistentVolumeClaim.
URI_PATTERN = (
    r"^(file:///.+|https?://[^/\s]+(/\S*)?|s3://[a-z0-9][a-z0-9.-]*/\S+"
    r"|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/\S+)$"
)
Uri = Annotated[str, Field(pattern=URI_PATTERN, max_length=2048)]
"""`file:///abs/path`, `http(s)://host/path`, `s3://bucket/key` or `pvc://<claim>/<path>`."""
