#!/usr/bin/env bash
# Installs what the test bed takes from Debian: wrk, the load generator of the benchmarks.
# (Prometheus is built from its Go module by build-binaries.sh: Debian's lacks Kubernetes discovery.)
# Idempotent: a machine that has them already returns at once.
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
