#!/usr/bin/env bash
# Installs what the test bed takes from Debian: wrk, the load generator of the benchmarks, and what
# testbed/build-image.sh builds and tests the image with (mmdebstrap, buildah, podman, runc, a static
# libc, and containerd, into which the image tests import the archives); with `node`, also what the
# real node runs on (the CNI plugins, iptables, conntrack, socat, and a static busybox).
# (Prometheus is built from its Go module by build-binaries.sh: Debian's lacks Kubernetes discovery.)
# Idempotent: a machine that has them already returns at once.
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v buildah >/dev/null || need+=(buildah)
command -v podman >/dev/null || need+=(podman)
# runc, not crun: crun refuses this machine's hybrid cgroup v1/v2 layout.
command -v runc >/dev/null || need+=(runc)
command -v containerd >/dev/null || need+=(containerd)
command -v gcc >/dev/null || need+=(gcc)
# gcc -static links the pause binary against libc.a, which only libc6-dev ships.
[ -n "$(find /usr/lib -name libc.a -print -quit 2>/dev/null)" ] || need+=(libc6-dev)
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
