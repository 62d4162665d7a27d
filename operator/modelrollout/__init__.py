"""model-rollout: progressive delivery of machine-learning models on Kubernetes.

The operator validates a new model version offline, shifts traffic to it step by step, judges it
from Prometheus, and promotes it or rolls back on its own.
"""

__version__ = "0.1.0"
