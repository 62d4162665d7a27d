"""`kubectl model-rollout`: the kubectl plugin that shows and steers ModelDeployments.

`render` and `text` are pure (object in, text out); `kube` is the thin edge to the API server.
"""
