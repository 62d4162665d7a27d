"""The validator's input: `{"model": ..., "stable": ... | null, "validation": ...}` in the CRD's camelCase.

Parsed with the `modelrollout.api` models, so the Job judges exactly what the API server admitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

import pydantic

from modelrollout import api
from modelrollout.validation.results import CouldNotRun

KEYS = ("model", "stable", "validation")
Section = TypeVar("Section", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class Request:
    model: api.ModelSpec
    stable: api.ModelSpec | None
    validation: api.ValidationSpec


def _explain(e: pydantic.ValidationError, *, section: str) -> str:
    problems = []
    for error in e.errors()[:10]:
        where = ".".join([section, *(str(part) for part in error["loc"])])
        problems.append(f"{where}: {error['msg']}")
    more = f" (and {e.error_count() - 10} more)" if e.error_count() > 10 else ""
    return "; ".join(problems) + more


def parse(text: str, *, source: str) -> Request:
    """Parse and check the document; every problem names where it is and what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CouldNotRun(
            f"the validation spec from {source} is not valid JSON (line {e.lineno}, "
            f"column {e.colno}: {e.msg})"
        ) from e
    if not isinstance(doc, dict):
        raise CouldNotRun(
            f"the validation spec from {source} must be a JSON object with keys "
            f"{', '.join(KEYS)}; got {type(doc).__name__}"
        )
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise CouldNotRun(
            f"the validation spec from {source} has unknown keys {', '.join(unknown)}; "
            f"it takes only {', '.join(KEYS)}"
        )
    for key in ("model", "validation"):
        if doc.get(key) is None:
            raise CouldNotRun(f"the validation spec from {source} has no {key!r} section")
    stable = doc.get("stable")
    return Request(
        model=_section(api.ModelSpec, doc["model"], key="model", source=source),
        stable=None
        if stable is None
        else _section(api.ModelSpec, stable, key="stable", source=source),
        validation=_section(api.ValidationSpec, doc["validation"], key="validation", source=source),
    )


def _section(cls: type[Section], value: object, *, key: str, source: str) -> Section:
    try:
        return cls.model_validate(value)
    except pydantic.ValidationError as e:
        raise CouldNotRun(f"bad {key} spec in {source}: {_explain(e, section=key)}") from e
