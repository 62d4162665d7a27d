"""The `model-rollout` command: one entry point for the operator, the model server and the validator.

Each verb lives in the package that owns it and is loaded only when called, so `model-rollout serve`
never imports the operator's dependencies and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import modelrollout

# verb -> (module, function, help). The function takes the remaining argv and returns an exit code.
VERBS: dict[str, tuple[str, str, str]] = {}


def register(verb: str, *, module: str, function: str, help: str) -> None:
    VERBS[verb] = (module, function, help)


register("version", module="modelrollout.cli", function="_version", help="print the version")
register(
    "reference",
    module="modelrollout.api.reference",
    function="main",
    help="print the ModelDeployment reference (Markdown)",
)
register(
    "operator",
    module="modelrollout.controller.main",
    function="run",
    help="run the ModelDeployment operator",
)
register(
    "validate",
    module="modelrollout.validation.command",
    function="main",
    help="validate a model version offline",
)
register(
    "crd", module="modelrollout.api.crd", function="main", help="print the ModelDeployment CRD"
)
register(
    "serve", module="modelrollout.serving.main", function="main", help="serve a model (OIP v2)"
)


def _version(argv: Sequence[str]) -> int:
    del argv
    print(modelrollout.__version__)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="model-rollout",
        description="Progressive delivery of machine-learning models on Kubernetes.",
    )
    parser.add_argument("verb", choices=sorted(VERBS), help="what to run")
    parser.add_argument("--version", action="store_true", help="print the version (as `version`)")
    if args[:1] == ["--version"]:
        # The flag every command-line tool answers, so `docker run IMAGE --version` works too.
        args[0] = "version"
    if not args or args[0] in {"-h", "--help"}:
        parser.print_help()
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        parser.error(f"unknown command {verb!r}; choose one of: {', '.join(sorted(VERBS))}")
    module, function, _ = VERBS[verb]
    entry: Callable[[Sequence[str]], int] = getattr(importlib.import_module(module), function)
    return entry(rest)


if __name__ == "__main__":
    sys.exit(main())
