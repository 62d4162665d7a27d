"""`model-rollout operator`: runs the kopf operator with the handlers of this package."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any, cast

import kopf

from modelrollout.controller import handlers, settings


def run(argv: Sequence[str]) -> int:
    opts = settings.parse(argv)
    # kopf installs its own log handler; per-event handler chatter ("Handler 'wake' succeeded") is noise.
    logging.getLogger("kopf.objects").setLevel(logging.DEBUG if opts.verbose else logging.WARNING)
    assert handlers.watch  # imported for its kopf registrations
    kopf.configure(verbose=opts.verbose)
    kopf.run(
        standalone=True,
        identity=cast(Any, identity()),  # kopf's Identity is a NewType of str it does not export
        clusterwide=not opts.namespaces,
        namespaces=list(opts.namespaces),
        memo=kopf.Memo(settings=opts),
    )
    return 0


def identity() -> str:
    """Who this operator is in kopf's annotations. kopf would ask getpass.getuser(), which fails in
    a container whose uid has no /etc/passwd entry (ours, 65532, or whatever runAsUser a cluster
    picks): `KeyError: 'getpwuid(): uid not found'`, and the operator exits."""
    return f"model-rollout@{socket.gethostname()}/{os.getpid()}"
