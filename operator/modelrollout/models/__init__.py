"""Model and dataset artifacts: fetching them from a URI and loading a model safely.

Shared by the model server (`serving/`) and the validation runner (`validation/`).
"""

# Here rather than in `loading` so that checking a setting does not import scikit-learn.
FORMATS = ("skops", "joblib", "pickle", "onnx")
