"""Metric providers: where an analysis round's numbers come from (registry picks the one
spec.analysis.provider names; Prometheus over HTTP first), and the round itself (measure). The edge
of the analysis: the judging in analysis/ stays pure."""
