"""Canary analysis, pure: the judge and the statistical comparisons (no I/O, no clock reads).

Where the numbers come from (providers, the round of queries) is metrics/; the import-linter
contract in pyproject.toml keeps all of this package free of I/O.
"""
