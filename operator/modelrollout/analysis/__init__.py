"""Canary analysis: metric providers and the pure judge (no I/O, no clock reads).

Keep this file free of imports: the rollout brain imports the judge through this package, and the
purity contract in pyproject.toml would follow anything imported here (a provider's HTTP client).
"""
