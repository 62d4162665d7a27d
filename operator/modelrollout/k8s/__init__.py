"""Kubernetes at the edge: pure builders of the objects a ModelDeployment owns, and the thin client that applies them."""
