"""The local test bed: a real Kubernetes control plane, kwok nodes, a pod runner and Prometheus.

Test infrastructure only, never shipped in the package. Entry point: `python -m testbed up|down|status|env|logs`.
"""
