#!/usr/bin/env bash
# The end-to-end steps, one per subcommand: .github/workflows/e2e.yaml runs them on kind, and
# tests/integration/test_real_node.py runs the same ones on the local real-node test bed, so the
# local run is the proof the workflow's steps work.
#
#   e2e-steps.sh build | load | install | rollout | rollback | reject | uninstall | diagnostics
#
# Where the image goes: kind (KIND_CLUSTER, with docker) or a node's containerd (CONTAINERD_ADDRESS,
# the image built by testbed/build-image.sh with buildah). kubectl and helm come from PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-model-rollout}
IMAGE_TAG=${IMAGE_TAG:-dev}
IMAGE="$IMAGE_REPOSITORY:$IMAGE_TAG"
# Never: the chart uses the image loaded into the nodes, never one pulled from elsewhere.
IMAGE_PULL_POLICY=${IMAGE_PULL_POLICY:-Never}
OPERATOR_NAMESPACE=${OPERATOR_NAMESPACE:-model-rollout-system}
APP_NAMESPACE=${APP_NAMESPACE:-ml}
RELEASE=model-rollout
WAIT=${WAIT:-10m}

say() { echo "[e2e $(date -u +%T)] $*" >&2; }
md() { kubectl get -n "$APP_NAMESPACE" modeldeployment/iris -o jsonpath="{.status.$1}"; }
restricted_namespace() {
  kubectl create namespace "$1" --dry-run=client -o yaml | kubectl apply -f -
  kubectl label --overwrite namespace "$1" pod-security.kubernetes.io/enforce=restricted
}

build() {
  if [ -n "${CONTAINERD_ADDRESS:-}" ]; then
    # No Docker engine here: the same Dockerfile, built by buildah on a base made from Debian.
    bash testbed/build-image.sh app >/dev/null
  else
    docker build --tag "$IMAGE" .
  fi
}

load() {
  if [ -n "${CONTAINERD_ADDRESS:-}" ]; then
    archive=$(bash testbed/build-image.sh app | sed -n 's/^MODEL_ROLLOUT_IMAGE_ARCHIVE=//p')
    ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$archive"
  else
    kind load docker-image "$IMAGE" --name "${KIND_CLUSTER:?KIND_CLUSTER or CONTAINERD_ADDRESS}"
  fi
}

install() {
  helm lint --strict charts/model-rollout
  # The operator's pod must be admitted where only the restricted Pod Security profile is allowed.
  restricted_namespace "$OPERATOR_NAMESPACE"
  # upgrade --install: the demo (examples/demo.py) may run it again on a cluster that has the release.
  helm upgrade --install "$RELEASE" charts/model-rollout --namespace "$OPERATOR_NAMESPACE" \
    --set image.repository="$IMAGE_REPOSITORY" --set image.tag="$IMAGE_TAG" \
    --set image.pullPolicy="$IMAGE_PULL_POLICY" --wait --timeout 5m
  kubectl -n "$OPERATOR_NAMESPACE" get pods -o wide
  say "inside the image: model-rollout $(kubectl -n "$OPERATOR_NAMESPACE" exec "deployment/$RELEASE" -- model-rollout --version)"
}

rollout() {
  say "rolling out the example model (iris v1)"
  restricted_namespace "$APP_NAMESPACE"
  kubectl apply -n "$APP_NAMESPACE" -f examples/iris.yaml
  kubectl wait -n "$APP_NAMESPACE" modeldeployment/iris \
    --for=jsonpath='{.status.phase}'=Healthy --timeout="$WAIT"
  kubectl wait -n "$APP_NAMESPACE" deployment/iris-stable --for=condition=Available --timeout=2m
  test "$(md stableVersion)" = 1
}

rollback() {
  say "iris v2 takes 20% of traffic, then a person rolls it back"
  kubectl apply -n "$APP_NAMESPACE" -f examples/iris-v2.yaml
  # Step 0 (setWeight: 20) is done once the canary's pods are ready and carry their share.
  kubectl wait -n "$APP_NAMESPACE" modeldeployment/iris \
    --for=jsonpath='{.status.currentStep}'=1 --timeout="$WAIT"
  kubectl get -n "$APP_NAMESPACE" deployment/iris-canary
  # What `kubectl model-rollout abort iris` files: a fresh token in the abort annotation.
  kubectl annotate -n "$APP_NAMESPACE" --overwrite modeldeployment/iris \
    "modelrollout.io/abort=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
  kubectl wait -n "$APP_NAMESPACE" modeldeployment/iris \
    --for=jsonpath='{.status.phase}'=RolledBack --timeout=5m
  test "$(md stableVersion)" = 1
  test "$(md 'history[-1:].outcome')" = Aborted
  kubectl wait -n "$APP_NAMESPACE" deployment/iris-stable --for=condition=Available --timeout=1m
}

reject() {
  say "a version that fails validation (iris v3, inaccurate)"
  kubectl apply -n "$APP_NAMESPACE" -f examples/iris-inaccurate.yaml
  kubectl wait -n "$APP_NAMESPACE" modeldeployment/iris \
    --for=jsonpath='{.status.phase}'=Failed --timeout="$WAIT"
  md 'validation.message'; echo
  # No traffic ever moved to it: no canary of v3 (an earlier rolled-back canary, scaled to zero,
  # may linger for rollback.scaleDownDelay), and the stable version is still v1.
  canary=$(kubectl get -n "$APP_NAMESPACE" deployment/iris-canary --ignore-not-found \
    -o jsonpath='{.spec.template.metadata.labels.modelrollout\.io/version}')
  if [ "$canary" = 3 ]; then
    echo "a canary Deployment exists for a version that failed validation" >&2
    exit 1
  fi
  test "$(md stableVersion)" = 1
  kubectl wait -n "$APP_NAMESPACE" deployment/iris-stable --for=condition=Available --timeout=1m
}

uninstall() {
  # ModelDeployments carry kopf's finalizer: delete them while the operator still runs.
  kubectl delete -n "$APP_NAMESPACE" modeldeployment/iris --ignore-not-found --timeout=2m
  helm uninstall "$RELEASE" --namespace "$OPERATOR_NAMESPACE" --wait
}

diagnostics() {
  kubectl get modeldeployments -A -o yaml || true
  kubectl get deployments,jobs,pods -A -o wide || true
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 100 || true
  kubectl -n "$OPERATOR_NAMESPACE" logs "deployment/$RELEASE" --tail=300 || true
  for pod in $(kubectl -n "$APP_NAMESPACE" get pods -o name); do
    echo "--- $pod"; kubectl -n "$APP_NAMESPACE" logs "$pod" --all-containers --tail=100 || true
  done
}

case "${1:-}" in
  build | load | install | rollout | rollback | reject | uninstall | diagnostics) "$1" ;;
  *) echo "usage: $0 build|load|install|rollout|rollback|reject|uninstall|diagnostics" >&2; exit 2 ;;
esac
