"""Model sources: ask a model registry (MLflow) or a folder of versions which version to serve.

`pick.pick(source, http=...)` is what the controller calls; `versions` holds the pure ordering rule.
"""
