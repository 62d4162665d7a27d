#!/usr/bin/env bash
# Installs what the test bed takes from Debian: wrk, the load generator of the benchmarks; with
# `node`, also what the opt-in real node runs on (containerd, runc, the CNI plugins, iptables,
# conntrack, socat, and a static busybox for its pause and test images).
# (Prometheus is built from its Go module by build-binaries.sh: Debian's lacks Kubernetes discovery.)
# Idempotent: a machine that has them already returns at once.
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
if [ "${1:-}" = node ]; then
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v socat >/dev/null || need+=(socat)
  # The images hold busybox alone: it must be the static build.
  ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || need+=(busybox-static)
fi
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
