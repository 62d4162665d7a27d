"""The model server that runs in serving pods: `model-rollout serve`.

Open Inference Protocol v2 over REST (with the binary tensor extension) and gRPC, ground-truth
feedback, and Prometheus metrics.
"""
