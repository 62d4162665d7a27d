# syntax=docker/dockerfile:1
# One image for the operator, the model server and the validator: `model-rollout operator|serve|validate`.
# Build: docker build -t model-rollout:dev .   (the kind workflow in .github/workflows/e2e.yaml does)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src

# Dependencies come from the pinned locks alone: --require-hashes checks every file against its
# hash, --no-deps keeps anything unlisted out, and --only-binary means no compiler is ever needed.
# This layer is cached until a lock changes. Regenerate the locks with requirements/README.md.
COPY requirements/ requirements/
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/build.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/runtime.txt

# The project itself: a wheel built by the pinned setuptools (no isolated build, which would fetch
# unpinned build tools), installed without dependencies since the lock already holds them all.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/model_rollout-*.whl \
 && /opt/venv/bin/pip uninstall --yes pip

# The demo models and datasets the example manifests point at (file:///opt/model-rollout/examples).
# Trained here from scikit-learn's bundled data, with the very library versions that will load them.
COPY examples/make_models.py examples/
RUN /opt/venv/bin/python examples/make_models.py --out /opt/model-rollout/examples

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="model-rollout" \
      org.opencontainers.image.description="Progressive delivery of ML models on Kubernetes: operator, model server and validator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/model-rollout/examples /opt/model-rollout/examples
# 65532 is the conventional "nonroot" uid/gid; numeric, so runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
ENTRYPOINT ["model-rollout"]
CMD ["operator"]
