#!/usr/bin/env bash
# Builds the test bed's Go binaries from their Go modules and caches them by version, so that a
# second run finds them and returns at once. Called by `testbed up` (and CI) before a cluster starts.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
# Debian's prometheus package is built without Kubernetes service discovery, which the test bed
# needs, so Prometheus comes from its Go module too (module v0.316.x is Prometheus 3.16.x).
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
# actionlint checks the kind workflow in .github/workflows (a unit test runs it when it is built).
ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.12}
# The real node's extras (build_node; not part of `all`, which is all the scale bed needs).
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
# CPU metrics for the HPA (spec.serving.autoscaling) on the real node: the kubelet's resource metrics.
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
# Argo Rollouts' controller, the peer bench/scale.py measures beside the operator (build_argo;
# opt-in, not part of `all`). v1.10.2 and v1.9.3 ask for go 1.26.10; v1.10.1 builds with go 1.26.1+.
ARGO_ROLLOUTS_VERSION=${ARGO_ROLLOUTS_VERSION:-v1.10.1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

CACHE=${MODEL_ROLLOUT_CACHE:-$HOME/.cache/model-rollout}
BIN=$CACHE/bin
WORK=$CACHE/build
mkdir -p "$BIN" "$WORK"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# sum.golang.org is not reachable from every machine; the module proxy still serves the bytes.
export GONOSUMDB=${GONOSUMDB:-k8s.io,sigs.k8s.io,go.etcd.io,helm.sh,github.com/rhysd,github.com/coredns,github.com/argoproj}
export GONOSUMDB GOFLAGS

log() { printf '[testbed build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A stamp file per component records the version that built it; a match skips the build.
built() { [ -f "$BIN/.$1.version" ] && [ "$(cat "$BIN/.$1.version")" = "$2" ] && [ -x "$BIN/$3" ]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

wrapper() { # wrapper DIR: an empty module to hang `go get -tool` on
  rm -rf "$1"; mkdir -p "$1"
  (cd "$1" && go mod init "testbed.local/$(basename "$1")" >/dev/null 2>&1)
}

k8s_wrapper() { # k8s_wrapper DIR: a wrapper module requiring k8s.io/kubernetes, entered
  local d=$1
  wrapper "$d"; cd "$d"
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
  local gomod
  gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
  # k8s.io/kubernetes replaces its staging modules with local folders; point each at the
  # published module of the same release instead (v0.<minor>.<patch>).
  local staging_ver="v0.${K8S_VERSION#v1.}"
  grep -E '=> \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    go mod edit -replace "$m=$m@$staging_ver"
  done
  go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
}

k8s_ldflags() { # the version stamps, without which a component reports v0.0.0-master
  local minor=${K8S_VERSION#v1.} ld="" pkg
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$ld"
}

build_k8s() {
  built k8s "$K8S_VERSION" kube-apiserver && built k8s "$K8S_VERSION" kubectl && return 0
  log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl); cold: 15-35 min"
  k8s_wrapper "$WORK/k8s"
  log "resolving modules"
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
  local ld pkg
  ld=$(k8s_ldflags)
  for pkg in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    log "compiling $pkg"
    go build -trimpath -ldflags "$ld" -o "$BIN/$pkg" "k8s.io/kubernetes/cmd/$pkg"
  done
  stamp k8s "$K8S_VERSION"
}

# The real node (testbed/node.py, opt-in): kubelet and kube-proxy from the same Kubernetes release
# as the control plane, crictl (Debian has no cri-tools) and a CoreDNS with the few plugins it uses.
# containerd, runc and the CNI plugins come from Debian (install-system-deps.sh node).
build_node() {
  local v="k8s=$K8S_VERSION coredns=$COREDNS_VERSION crictl=$CRICTL_VERSION"
  built node "$v" kubelet && built node "$v" kube-proxy && built node "$v" coredns && built node "$v" crictl && return 0
  log "building the real node's kubelet, kube-proxy ($K8S_VERSION), crictl $CRICTL_VERSION, CoreDNS $COREDNS_VERSION; warm Go cache: 2-4 min"
  k8s_wrapper "$WORK/k8s-node"
  go get -tool "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION"
  local ld pkg
  ld=$(k8s_ldflags)
  for pkg in kubelet kube-proxy; do
    log "compiling $pkg"
    go build -trimpath -ldflags "$ld" -o "$BIN/$pkg" "k8s.io/kubernetes/cmd/$pkg"
  done
  wrapper "$WORK/crictl"; cd "$WORK/crictl"
  go get -tool "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  log "compiling crictl"
  go build -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    -o "$BIN/crictl" sigs.k8s.io/cri-tools/cmd/crictl
  # testbed/coredns/main.go links only the plugins the node's Corefile uses (no cloud SDKs).
  wrapper "$WORK/coredns"; cd "$WORK/coredns"
  cp "$HERE/coredns/main.go" .
  go get "github.com/coredns/coredns@$COREDNS_VERSION"
  go mod tidy
  log "compiling CoreDNS"
  go build -trimpath -ldflags "-s -w" -o "$BIN/coredns" .
  stamp node "$v"
}

# Its own stamp, so adding it rebuilds none of the node's other binaries.
build_metrics_server() {
  built metrics-server "$METRICS_SERVER_VERSION" metrics-server && return 0
  log "building metrics-server $METRICS_SERVER_VERSION"
  local d=$WORK/metrics-server
  wrapper "$d"; cd "$d"
  go get -tool "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  go build -trimpath -ldflags "-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    -o "$BIN/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server
  stamp metrics-server "$METRICS_SERVER_VERSION"
}

build_etcd() {
  built etcd "$ETCD_VERSION" etcd && return 0
  log "building etcd $ETCD_VERSION"
  local d=$WORK/etcd
  wrapper "$d"; cd "$d"
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  stamp etcd "$ETCD_VERSION"
}

build_kwok() {
  built kwok "$KWOK_VERSION" kwok && built kwok "$KWOK_VERSION" kwokctl && return 0
  log "building kwok and kwokctl $KWOK_VERSION"
  local d=$WORK/kwok
  wrapper "$d"; cd "$d"
  go get -tool "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
  stamp kwok "$KWOK_VERSION"
}

build_helm() {
  built helm "$HELM_VERSION" helm && return 0
  log "building helm $HELM_VERSION"
  local d=$WORK/helm
  wrapper "$d"; cd "$d"
  go get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm
  stamp helm "$HELM_VERSION"
}

build_prometheus() {
  built prometheus "$PROMETHEUS_VERSION" prometheus && return 0
  log "building Prometheus $PROMETHEUS_VERSION (API only: the web UI's assets are not embedded)"
  local d=$WORK/prometheus v
  wrapper "$d"; cd "$d"
  go get -tool "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION"
  v=${PROMETHEUS_VERSION#v0.}; v="3.$(( ${v%%.*} - 300 )).${v#*.}"
  # Only Kubernetes discovery is needed: the tags leave out the cloud SDKs (most of the build time).
  go build -trimpath -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$v" \
    -o "$BIN/prometheus" github.com/prometheus/prometheus/cmd/prometheus
  stamp prometheus "$PROMETHEUS_VERSION"
}

build_actionlint() {
  built actionlint "$ACTIONLINT_VERSION" actionlint && return 0
  log "building actionlint $ACTIONLINT_VERSION"
  local d=$WORK/actionlint
  wrapper "$d"; cd "$d"
  go get -tool "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  go build -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    -o "$BIN/actionlint" github.com/rhysd/actionlint/cmd/actionlint
  stamp actionlint "$ACTIONLINT_VERSION"
}

# Argo Rollouts replaces every k8s.io staging module in its go.mod, and a wrapper module would ignore
# a dependency's replace directives, so the controller is built inside the downloaded module itself
# (read-only in the module cache; its go.sum is complete, so nothing is written there).
build_argo() {
  built argo "$ARGO_ROLLOUTS_VERSION" rollouts-controller && return 0
  log "building Argo Rollouts $ARGO_ROLLOUTS_VERSION (rollouts-controller); cold: 10-25 min"
  local dir
  dir=$(go mod download -json "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  (cd "$dir" && go build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${ARGO_ROLLOUTS_VERSION#v}" \
    -o "$BIN/rollouts-controller" ./cmd/rollouts-controller)
  stamp argo "$ARGO_ROLLOUTS_VERSION"
}

what=${1:-all}
case $what in
  all) build_etcd; build_kwok; build_helm; build_prometheus; build_k8s; build_actionlint ;;
  k8s) build_k8s ;; etcd) build_etcd ;; kwok) build_kwok ;; helm) build_helm ;; prometheus) build_prometheus ;;
  actionlint) build_actionlint ;; node) build_node; build_metrics_server ;; argo) build_argo ;;
  metrics-server) build_metrics_server ;;
  *) echo "usage: $0 [all|k8s|etcd|kwok|helm|prometheus|actionlint|node|argo|metrics-server]" >&2; exit 2 ;;
esac
log "binaries ready in $BIN"
