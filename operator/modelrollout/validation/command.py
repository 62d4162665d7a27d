"""`model-rollout validate`: read the spec, run the checks, print the report, write the verdict.

Exit 0 when every check passes, 1 when one fails, 2 when the model could not be judged at all.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from modelrollout import api
from modelrollout.validation import request, runner, verdict
from modelrollout.validation.results import CouldNotRun

SPEC_ENV = "MODEL_ROLLOUT_VALIDATION_SPEC"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="model-rollout validate",
        description=(
            "Validate a model version offline. The spec is JSON: "
            '{"model": <spec.model>, "stable": <stable spec.model or null>, '
            '"validation": <spec.validation>}. Exit 0 pass, 1 fail, 2 could not run.'
        ),
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--spec-file", type=Path, help="read the spec from this JSON file")
    source.add_argument("--spec", help=f"the spec as a JSON string (default: ${SPEC_ENV})")
    p.add_argument(
        "--termination-message-path",
        default=DEFAULT_TERMINATION_PATH,
        help="where to write the compact verdict (default: %(default)s)",
    )
    return p


def read_spec(args: argparse.Namespace) -> request.Request:
    if args.spec_file is not None:
        try:
            text = args.spec_file.read_text(encoding="utf-8")
        except OSError as e:
            raise CouldNotRun(
                f"cannot read the spec file {args.spec_file}: {e.strerror}; check --spec-file"
            ) from e
        return request.parse(text, source=str(args.spec_file))
    if args.spec is not None:
        return request.parse(args.spec, source="--spec")
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise CouldNotRun(f"no validation spec: pass --spec-file or --spec, or set ${SPEC_ENV}")
    return request.parse(text, source=f"${SPEC_ENV}")


class DeadlineExceeded(BaseException):
    """Raised from the alarm; a BaseException so that no `except Exception` on the way swallows it."""


def own_deadline(timeout_seconds: float) -> float:
    """Stop a little before the Job's activeDeadlineSeconds (the same timeout) kills the pod.

    Finishing first is what leaves a verdict that says why, instead of a pod killed mid-run.
    """
    return timeout_seconds - min(30.0, timeout_seconds / 10)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise `DeadlineExceeded` in the main thread once `seconds` have passed."""

    def expire(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise DeadlineExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def write_verdict(path: str, payload: bytes) -> None:
    try:
        Path(path).write_bytes(payload)
    except OSError as e:
        # Outside Kubernetes /dev/termination-log usually does not exist: the report on stdout
        # still says everything, so this is worth a warning, not a different exit code.
        print(
            f"model-rollout validate: could not write the verdict to {path} ({e.strerror}); "
            "pass --termination-message-path to choose another file",
            file=sys.stderr,
        )


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    started = time.monotonic()
    found = runner.Findings()
    error: str | None = None
    subject = "the model"
    timeout = "?"
    try:
        req = read_spec(args)
        subject = runner.subject(req)
        timeout = req.validation.timeout
        with deadline(own_deadline(api.parse_duration(timeout).total_seconds())):
            runner.run(req, found)
    except CouldNotRun as e:
        error = str(e)
    except DeadlineExceeded:
        error = (
            f"validation did not finish within its timeout of {timeout} (it stops a little "
            "early to report); raise validation.timeout or use a smaller dataset"
        )
    full: dict[str, Any] = verdict.report(
        checks=found.checks, error=error, subject=subject, context=found.context
    )
    full["durationSeconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(full, indent=2, default=str, allow_nan=False))
    write_verdict(args.termination_message_path, verdict.compact(full))
    print(f"model-rollout validate: {full['message']}", file=sys.stderr)
    return int(full["exitCode"])
