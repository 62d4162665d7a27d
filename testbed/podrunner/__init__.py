"""The pod runner, a "process kubelet": runs the project's pods as local processes, simulates the rest.

Started by the test bed as `python -m testbed.podrunner`; see `shared/local-cluster.md` for its design.
"""
