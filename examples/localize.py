"""Print example manifests with their model and dataset URIs pointed at a local examples/ folder.

    python examples/localize.py --root "$PWD/examples" examples/iris.yaml | kubectl apply -f -

The manifests name /opt/model-rollout/examples, where the image keeps the demo models; a process on
this machine (a validation run, an operator outside the cluster) reads them from the checkout instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

PLACEHOLDER = "/opt/model-rollout/examples"


def localize(text: str, root: Path) -> str:
    return text.replace(f"file://{PLACEHOLDER}/", f"file://{root.resolve()}/")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="+", type=Path, help="example manifests to rewrite")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="the folder holding models/ and data/ (default: this examples/ folder)",
    )
    args = parser.parse_args(argv)
    if not (args.root / "models").is_dir():
        print(
            f"{args.root}/models does not exist: run examples/make_models.py --out {args.root} first",
            file=sys.stderr,
        )
        return 2
    print("\n---\n".join(localize(m.read_text(), args.root) for m in args.manifests), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
