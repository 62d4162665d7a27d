"""The model server that runs in serving pods: `model-rollout serve`.

Open Inference Protocol v2 over REST, ground-truth feedback, and Prometheus metrics.
"""
