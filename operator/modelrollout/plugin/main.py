"""`kubectl-model_rollout`, run by kubectl as `kubectl model-rollout VERB ...`: parse, call, print.

Verbs: promote, abort, retry, status, history, list. A failure is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from modelrollout.api import Phase
from modelrollout.plugin import kube, render, requests, tables
from modelrollout.rollout.observation import Request

PROG = "kubectl model-rollout"
WATCH_EVERY_S = 2.0
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: what `watch` does between frames
# A watch outlives an API server blip (a restart, a leader change) but not an outage.
WATCH_TRANSIENT_LIMIT = 5


def _parser() -> argparse.ArgumentParser:
    # The connection flags are accepted before and after the verb, as kubectl accepts them;
    # SUPPRESS keeps a verb's parser from overwriting a value given before the verb.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help="namespace (default: the context's, else default)",
    )
    common.add_argument(
        "--kubeconfig",
        default=argparse.SUPPRESS,
        help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
    )
    common.add_argument(
        "--context", default=argparse.SUPPRESS, help="kubeconfig context (default: the current one)"
    )
    p = argparse.ArgumentParser(
        prog=PROG, parents=[common], description="Show and steer model rollouts (ModelDeployments)."
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    promote = verbs.add_parser(
        "promote", parents=[common], help="go past the current pause or hold"
    )
    promote.add_argument(
        "--full", action="store_true", help="skip all remaining steps and promote now"
    )
    verbs.add_parser("abort", parents=[common], help="roll back to the stable version now")
    verbs.add_parser(
        "retry", parents=[common], help="run a failed, rolled back or held rollout again"
    )
    status = verbs.add_parser("status", parents=[common], help="phase, steps, weights and metrics")
    status.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help=f"refresh every {WATCH_EVERY_S:g}s until the rollout ends",
    )
    history = verbs.add_parser(
        "history", parents=[common], help="the last rollouts and their outcomes"
    )
    for sub in (status, history):
        sub.add_argument(
            "-o",
            "--output",
            choices=("json", "yaml"),
            help="print the raw status (history) instead",
        )
    for sub in (promote, verbs.choices["abort"], verbs.choices["retry"], status, history):
        sub.add_argument("name", help="the ModelDeployment's name")
    listing = verbs.add_parser("list", parents=[common], help="all ModelDeployments of a namespace")
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list them in every namespace"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        api_client, where = kube.connect(
            kubeconfig=getattr(args, "kubeconfig", None),
            context=getattr(args, "context", None),
            namespace=getattr(args, "namespace", None),
        )
        with api_client:
            return run(args, kube.ModelDeployments(api_client, where), where=where)
    except (kube.PluginError, render.UnreadableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace, mds: kube.ModelDeployments, *, where: kube.Where) -> int:
    ns, out = where.namespace, sys.stdout
    if args.verb == "list":
        objs = mds.list(namespace=None if args.all_namespaces else ns)
        if not objs:
            scope = "any namespace" if args.all_namespaces else f"namespace {ns!r}"
            print(f"No ModelDeployments found in {scope}.", file=sys.stderr)
        out.write(tables.listing(objs, now=_now(), all_namespaces=args.all_namespaces))
        return 0
    if args.verb in ("promote", "abort", "retry"):
        kind = Request.PROMOTE_FULL if getattr(args, "full", False) else Request(args.verb)
        return request(mds, name=args.name, namespace=ns, kind=kind, out=out)
    if args.verb == "history":
        obj = mds.get(args.name, namespace=ns)
        history = (obj.get("status") or {}).get("history", [])
        out.write(dump(history, args.output) if args.output else tables.history(obj, now=_now()))
        return 0
    if args.watch:
        return watch(lambda: mds.get(args.name, namespace=ns), out=out, output=args.output)
    obj = mds.get(args.name, namespace=ns)
    out.write(
        dump(obj.get("status") or {}, args.output)
        if args.output
        else render.status_view(obj, now=_now())
    )
    return 0


def request(
    mds: kube.ModelDeployments, *, name: str, namespace: str, kind: Request, out: TextIO
) -> int:
    """File a manual request as an annotation; warn when the operator will not act on it now."""
    obj = mds.get(name, namespace=namespace)
    try:
        phase: Phase | None = render.parse(obj)[1].phase
    except render.UnreadableError:
        phase = None  # the request does not depend on the status; only the hint does
    token = requests.token(_now())
    mds.patch(name, namespace=namespace, body=requests.patch(kind, token))
    was = f"; it was {phase.value}" if phase is not None else ""
    out.write(
        f'modeldeployment "{name}" {kind.value} requested ({requests.annotation(kind)}={token}){was}\n'
    )
    note = requests.warning(kind, phase=phase, name=name) if phase is not None else None
    if note:
        print(note, file=sys.stderr)
    return 0


def finished(obj: Mapping[str, Any]) -> bool:
    """The operator has seen the latest spec and the rollout rests in a terminal phase."""
    _, status = render.parse(obj)
    generation = (obj.get("metadata") or {}).get("generation")
    seen = generation is None or status.observed_generation == generation
    return seen and status.phase.is_terminal


def watch(
    fetch: Callable[[], Mapping[str, Any]],
    *,
    out: TextIO,
    output: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] | None = None,
) -> int:
    """Print the status every WATCH_EVERY_S until it ends: 0 when Healthy, 1 otherwise."""
    clear = out.isatty() and output is None
    failures = 0
    while True:
        try:
            obj = fetch()
        except kube.PluginError as e:
            failures += 1
            if not e.transient or failures >= WATCH_TRANSIENT_LIMIT:
                raise
            print(f"warning: {e} (retrying, {failures}/{WATCH_TRANSIENT_LIMIT})", file=sys.stderr)
            sleep(WATCH_EVERY_S)
            continue
        failures = 0
        if output:
            frame = dump(obj.get("status") or {}, output)
        else:
            frame = render.status_view(obj, now=(now or _now)())
        out.write((CLEAR if clear else "") + frame + ("" if clear else "---\n"))
        out.flush()
        if finished(obj):
            return 0 if render.parse(obj)[1].phase is Phase.HEALTHY else 1
        sleep(WATCH_EVERY_S)


def dump(doc: Any, output: str) -> str:
    if output == "json":
        return json.dumps(doc, indent=2, default=str) + "\n"
    return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


def _now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    sys.exit(main())
