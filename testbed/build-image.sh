#!/usr/bin/env bash
# Builds the project's image here, where no Docker engine runs and no container registry answers:
#   base   a Debian bookworm root filesystem made by mmdebstrap from Debian packages (Python 3.11),
#          imported as localhost/model-rollout-base:<key>; it stands in for python:3.11-slim-bookworm
#   app    the repository's Dockerfile built by buildah on that base: localhost/model-rollout:<tag>
#   pause  a static sandbox binary in an image of its own: localhost/pause:3.10
# Each part is cached under ~/.cache/model-rollout/images, keyed by a hash of its inputs, so a second
# run with nothing changed returns in about a second; buildah's layer cache keeps the dependency
# layer until a lock changes. Images are written as docker archives, which `ctr -n k8s.io images
# import`, `podman load` and `kind load image-archive` all read. The last lines on stdout name them:
#   MODEL_ROLLOUT_IMAGE=...  MODEL_ROLLOUT_IMAGE_ARCHIVE=...  PAUSE_IMAGE=...  PAUSE_IMAGE_ARCHIVE=...
# buildah and podman see the same store through CONTAINERS_STORAGE_CONF=<cache>/images/storage.conf
# and CONTAINERS_CONF=<cache>/images/containers.conf. Needs root (mmdebstrap, buildah) and the
# Debian packages testbed/install-system-deps.sh installs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MODEL_ROLLOUT_CACHE:-$HOME/.cache/model-rollout}
IMAGES=$CACHE/images
TAG=${MODEL_ROLLOUT_IMAGE_TAG:-dev}
PAUSE_TAG=3.10
STORAGE_DRIVER=${MODEL_ROLLOUT_STORAGE_DRIVER:-overlay}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# The trust store pip uses during the build. The host's, so a machine whose TLS is intercepted by a
# local CA can still reach PyPI; it is mounted for RUN steps only and never lands in a layer.
BUILD_CA_BUNDLE=${MODEL_ROLLOUT_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# What the base holds. Python 3.11 is bookworm's python3; libstdc++6 is the one library the
# manylinux wheels of numpy, scipy and scikit-learn expect from the system. The essential variant
# has no apt, and the path excludes drop documentation, manual pages and translations.
BASE_ARGS=(
  --variant=essential
  --include=python3,python3-venv,ca-certificates,libstdc++6
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt=path-exclude=/usr/share/doc/*
  --dpkgopt=path-include=/usr/share/doc/*/copyright
  --dpkgopt=path-exclude=/usr/share/man/*
  --dpkgopt=path-exclude=/usr/share/info/*
  --dpkgopt=path-exclude=/usr/share/locale/*
  --dpkgopt=path-include=/usr/share/locale/locale.alias
  --skip=output/dev
  bookworm
)

log() { printf '[image build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
hash_text() { sha256sum | cut -c1-16; }

for tool in mmdebstrap buildah podman gcc; do
  command -v "$tool" >/dev/null || die "$tool is missing: run testbed/install-system-deps.sh"
done
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root and buildah's root store)"

mkdir -p "$IMAGES/storage" "$IMAGES/run"
# One build at a time: make test and a pytest session may both call this.
exec 9>"$IMAGES/.lock"
flock 9

cat >"$IMAGES/storage.conf" <<EOF
[storage]
driver = "$STORAGE_DRIVER"
graphroot = "$IMAGES/storage"
runroot = "$IMAGES/run/storage"
EOF
# For podman runs of the images (the tests): no systemd here, so podman manages the cgroups itself
# and logs events to a file; runc, since crun refuses this machine's hybrid cgroup v1/v2 layout.
# Root here lacks CAP_SYS_RESOURCE, so a container may not raise a limit: podman's defaults
# (nofile 1048576) are replaced by the hard limits at hand, nproc no higher than kernel.pid_max.
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max)
[ "$nofile" = unlimited ] && nofile=1048576
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; } && nproc=$pid_max
cat >"$IMAGES/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$IMAGES/run/events.log"
tmp_dir = "$IMAGES/run/libpod"
runtime = "runc"
EOF
export CONTAINERS_STORAGE_CONF=$IMAGES/storage.conf CONTAINERS_CONF=$IMAGES/containers.conf

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# archive KIND KEY IMAGE: writes IMAGE as IMAGES/KIND-KEY.tar (atomically), drops the archives of
# older keys, and points IMAGES/KIND.tar at the new one. KIND carries the tag, so that builds of
# other tags keep their own archives.
archive() {
  local kind=$1 key=$2 image=$3 out=$IMAGES/$1-$2.tar old
  rm -f "$out.tmp"
  buildah push --quiet "$image" "docker-archive:$out.tmp:$image" >/dev/null
  mv "$out.tmp" "$out"
  for old in "$IMAGES/$kind"-????????????????.tar; do
    [ "$old" = "$out" ] || rm -f "$old"
  done
  ln -sfn "$(basename "$out")" "$IMAGES/$kind.tar"
}

# drop_other_keys PREFIX KEY: untags the images named PREFIX<other key>. Their layers stay while
# anything uses them; the unnamed images of buildah's layer cache are kept.
drop_other_keys() {
  local name
  buildah images --format '{{.Name}}:{{.Tag}}' | { grep -E "^$1[0-9a-f]{16}\$" || true; } | while read -r name; do
    [ "$name" = "$1$2" ] || buildah rmi "$name" >/dev/null 2>&1 || true
  done
}

BASE_KEY=$(printf '%s\n' "${BASE_ARGS[@]}" | hash_text)
BASE_IMAGE=localhost/model-rollout-base:$BASE_KEY

build_base() {
  image_exists "$BASE_IMAGE" && return 0
  local rootfs=$IMAGES/base-rootfs-$BASE_KEY.tar container
  if [ ! -f "$rootfs" ]; then
    log "making the base root filesystem with mmdebstrap (Debian bookworm, Python 3.11); cold: about 1 min"
    rm -f "$rootfs.tmp"
    mmdebstrap --quiet --mode=root --format=tar "${BASE_ARGS[@]}" "$rootfs.tmp" \
      "deb $DEBIAN_MIRROR bookworm main" \
      "deb $DEBIAN_MIRROR bookworm-updates main" \
      "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" >&2
    mv "$rootfs.tmp" "$rootfs"
    for old in "$IMAGES"/base-rootfs-*.tar; do
      [ "$old" = "$rootfs" ] || rm -f "$old"
    done
  fi
  log "importing the base as $BASE_IMAGE"
  container=$(buildah from scratch)
  buildah add --quiet "$container" "$rootfs" / >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd '["python3"]' \
    --label org.opencontainers.image.description="Debian bookworm with Python 3.11, from Debian packages (mmdebstrap)" \
    "$container"
  buildah commit --quiet --rm "$container" "$BASE_IMAGE" >/dev/null
  drop_other_keys localhost/model-rollout-base: "$BASE_KEY"
}

# The build context is what .dockerignore keeps (its `!` lines), so the key covers exactly the files
# the Dockerfile can copy, plus the Dockerfile, .dockerignore and the base.
app_key() {
  local kept
  mapfile -t kept < <(sed -n 's:^!\(.*[^/]\)/*$:\1:p' "$ROOT/.dockerignore")
  {
    echo "$BASE_KEY"
    cd "$ROOT"
    find Dockerfile .dockerignore "${kept[@]}" -type f \
      ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | hash_text
}

APP_KEY=$(app_key)
APP_IMAGE=localhost/model-rollout:$TAG
# The image of these inputs; the tag is part of the name, so that builds of other tags keep theirs.
APP_KEYED=localhost/model-rollout:$TAG-$APP_KEY
APP_ARCHIVE=$IMAGES/model-rollout-$TAG-$APP_KEY.tar

build_app() {
  if [ -f "$APP_ARCHIVE" ] && image_exists "$APP_KEYED"; then
    buildah tag "$APP_KEYED" "$APP_IMAGE"
    return 0
  fi
  build_base
  local volumes=()
  [ -f "$BUILD_CA_BUNDLE" ] && volumes=(--volume "$BUILD_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
  log "building $APP_IMAGE from the Dockerfile on $BASE_IMAGE (layers cached)"
  # chroot isolation: RUN steps need no OCI runtime or network namespace, and reach PyPI directly.
  # --force-rm: a failed build leaves no working container (and its mounts) behind.
  buildah bud --quiet --layers --force-rm --isolation chroot --pull=false "${volumes[@]}" \
    --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
    --tag "$APP_KEYED" --tag "$APP_IMAGE" \
    --file "$ROOT/Dockerfile" "$ROOT" >/dev/null
  archive "model-rollout-$TAG" "$APP_KEY" "$APP_IMAGE"
  drop_other_keys "localhost/model-rollout:$TAG-" "$APP_KEY"
}

PAUSE_SOURCE=$ROOT/testbed/image/pause.c
PAUSE_KEY=$({ cat "$PAUSE_SOURCE"; gcc --version | head -n1; } | hash_text)
PAUSE_IMAGE=localhost/pause:$PAUSE_TAG
PAUSE_ARCHIVE=$IMAGES/pause-$PAUSE_TAG-$PAUSE_KEY.tar

build_pause() {
  if [ -f "$PAUSE_ARCHIVE" ] && image_exists "localhost/pause:$PAUSE_KEY"; then
    buildah tag "localhost/pause:$PAUSE_KEY" "$PAUSE_IMAGE"
    return 0
  fi
  log "building $PAUSE_IMAGE (static, from testbed/image/pause.c)"
  local work container
  work=$(mktemp -d)
  gcc -static -Os -s -Wall -Wextra -Werror -o "$work/pause" "$PAUSE_SOURCE"
  container=$(buildah from scratch)
  buildah copy --quiet --chmod 0755 "$container" "$work/pause" /pause >/dev/null
  rm -rf "$work"
  buildah config --entrypoint '["/pause"]' --cmd '[]' --user 65535:65535 \
    --label org.opencontainers.image.description="Pod sandbox: holds the namespaces, reaps orphans" \
    "$container"
  buildah commit --quiet --rm "$container" "localhost/pause:$PAUSE_KEY" >/dev/null
  buildah tag "localhost/pause:$PAUSE_KEY" "$PAUSE_IMAGE"
  archive "pause-$PAUSE_TAG" "$PAUSE_KEY" "$PAUSE_IMAGE"
  drop_other_keys localhost/pause: "$PAUSE_KEY"
}

what=${1:-all}
case $what in
  all) build_app; build_pause ;;
  base) build_base ;;
  app) build_app ;;
  pause) build_pause ;;
  *) echo "usage: $0 [all|base|app|pause]" >&2; exit 2 ;;
esac
log "images ready in $IMAGES"
case $what in
  all | app) echo "MODEL_ROLLOUT_IMAGE=$APP_IMAGE"; echo "MODEL_ROLLOUT_IMAGE_ARCHIVE=$APP_ARCHIVE" ;;
esac
case $what in
  all | pause) echo "PAUSE_IMAGE=$PAUSE_IMAGE"; echo "PAUSE_IMAGE_ARCHIVE=$PAUSE_ARCHIVE" ;;
esac
case $what in
  base) echo "BASE_IMAGE=$BASE_IMAGE" ;;
esac
echo "CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
echo "CONTAINERS_CONF=$CONTAINERS_CONF"
