"""Metric providers: where an analysis round's numbers come from (Prometheus over HTTP), and the
round itself (measure). The edge of the analysis: the judging in analysis/ stays pure."""
