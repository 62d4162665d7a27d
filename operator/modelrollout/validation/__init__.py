"""The offline validation runner (`model-rollout validate`) that runs in the validation Job.

Every check is a pure function of arrays and thresholds; only `datasets` and `runner` touch files.
"""
