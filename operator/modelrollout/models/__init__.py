"""Model and dataset artifacts: fetching them from a URI and loading a model safely.

Shared by the model server (`serving/`) and the validation runner (`validation/`).
"""
