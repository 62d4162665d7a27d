"""Small OCI image archives made from local files, for containerd to import without a registry.

The real node's pause image and its test images (a static busybox) come from here; `ctr images
import` loads the archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

# Fixed timestamps make the same inputs give the same digests, so a re-import is a no-op.
_EPOCH = 0


@dataclass(frozen=True)
class Image:
    """What goes into one single-layer image: files copied from the host, symlinks, and its config."""

    name: str  # a full reference, e.g. "docker.io/library/busybox:testbed"
    files: dict[str, Path] = field(default_factory=dict)  # path in the image -> host file
    symlinks: dict[str, str] = field(default_factory=dict)  # path in the image -> target
    dirs: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/bin:/usr/bin:/sbin:/usr/sbin",)


def _layer(image: Image) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parents: set[str] = set()
        wanted = [*image.dirs, *image.files, *image.symlinks]
        for path in wanted:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                parents.add("/".join(parts[:i]))
        for d in sorted(parents | {p.strip("/") for p in image.dirs}):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _EPOCH
            tar.addfile(info)
        for dest, src in sorted(image.files.items()):
            data = src.read_bytes()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = len(data), 0o755, _EPOCH
            tar.addfile(info, io.BytesIO(data))
        for dest, target in sorted(image.symlinks.items()):
            info = tarfile.TarInfo(dest.strip("/"))
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, _EPOCH
            tar.addfile(info)
    return buf.getvalue()


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    info.size, info.mtime = len(data), _EPOCH
    tar.addfile(info, io.BytesIO(data))
    return digest


def write_archive(image: Image, out: Path) -> Path:
    """Writes image as an OCI image-layout tar at out, named for `ctr images import`."""
    layer = _layer(image)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    compressed = gzip.compress(layer, mtime=_EPOCH)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": list(image.env),
            "Entrypoint": list(image.entrypoint) or None,
            "Cmd": list(image.cmd) or None,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, mode="w") as tar:
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = _blob(tar, config_bytes)
        layer_digest = _blob(tar, compressed)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(compressed),
                }
            ],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        manifest_digest = _blob(tar, manifest_bytes)
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    # containerd names the imported image from this annotation.
                    "annotations": {
                        "io.containerd.image.name": image.name,
                        "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps(index, sort_keys=True).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), _EPOCH
            tar.addfile(info, io.BytesIO(data))
    return out


def busybox(*, name: str, busybox_binary: Path = Path("/bin/busybox")) -> Image:
    """A static busybox with its applets linked in /bin: a shell, sleep, httpd, nc, wget."""
    applets = [
        "sh",
        "sleep",
        "tail",
        "httpd",
        "nc",
        "wget",
        "cat",
        "echo",
        "ls",
        "hostname",
        "nslookup",
    ]
    applets += ["ip", "kill", "ps", "dd", "head", "mkdir", "env", "true", "false", "grep"]
    return Image(
        name=name,
        files={"/bin/busybox": busybox_binary},
        symlinks={f"/bin/{a}": "busybox" for a in applets},
        dirs=("/tmp", "/etc", "/proc", "/sys", "/dev", "/var/www"),
        cmd=("sh",),
    )
