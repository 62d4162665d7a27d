# syntax=docker/dockerfile:1
# One image for the operator, the model server and the validator: `model-rollout operator|serve|validate`.
# Build: docker build -t model-rollout:dev .   (the kind workflow in .github/workflows/e2e.yaml does)
# The base is any Debian bookworm with Python 3.11 at `python3`: the official slim image by default,
# or the one testbed/build-image.sh makes from Debian packages (--build-arg PYTHON_IMAGE=...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src

# Dependencies come from the pinned locks alone: --require-hashes checks every file against its
# hash, --no-deps keeps anything unlisted out, and --only-binary means no compiler is ever needed.
# This layer is cached until a lock changes. Regenerate the locks with requirements/README.md.
# The runtime venv then loses the pip and setuptools that venv seeds it with: nothing there needs them.
# `python3`, not `python`: Debian's own interpreter has no `python` name.
COPY requirements/ requirements/
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/build.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/runtime.txt \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# The demo models and datasets the example manifests point at (file:///opt/model-rollout/examples).
# Trained here from scikit-learn's bundled data, with the very library versions that will load them;
# before the project's source, so that a change to the source does not train them again.
COPY examples/make_models.py examples/
RUN /opt/venv/bin/python examples/make_models.py --out /opt/model-rollout/examples

# The project itself: a wheel built by the pinned setuptools (no isolated build, which would fetch
# unpinned build tools), installed without dependencies since the lock already holds them all.
# It is installed under /staging (`--root`), so the final stage takes it as a layer of its own and
# the dependency layer stays the same when only the source changes. The build venv's pip runs on
# the runtime interpreter, so the entry script names /opt/venv/bin/python.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && PYTHONPATH="$(/opt/build/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    /opt/venv/bin/python -m pip install --no-deps --no-warn-script-location --root /staging /wheels/model_rollout-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="model-rollout" \
      org.opencontainers.image.description="Progressive delivery of ML models on Kubernetes: operator, model server and validator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Least changed first: the dependencies, the demo models, then the project's own files.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/model-rollout/examples /opt/model-rollout/examples
COPY --from=builder /staging/ /
# 65532 is the conventional "nonroot" uid/gid; numeric, so runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
ENTRYPOINT ["model-rollout"]
CMD ["operator"]
