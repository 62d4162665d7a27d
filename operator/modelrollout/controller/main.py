"""`model-rollout operator`: runs the kopf operator with the handlers of this package."""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
        clusterwide=not opts.namespaces,
        namespaces=list(opts.namespaces),
        memo=kopf.Memo(settings=opts),
    )
    return 0
