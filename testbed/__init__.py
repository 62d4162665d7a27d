"""The local test bed: a real Kubernetes control plane, a real node (kubelet, containerd) and Prometheus.

Test infrastructure only, never shipped in the package. Entry point: `python -m testbed up|down|status|env|logs`.
"""
