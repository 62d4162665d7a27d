"""Canary analysis: metric providers and the pure judge (no I/O, no clock reads)."""
