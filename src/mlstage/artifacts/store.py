"""Blobs named by their sha256, on any fsspec filesystem.

Layout under the root: ``sha256/ab/cd/<hex>``. A blob is written once; a
second write of the same content is a no-op. Writes are atomic: on a local
folder the bytes go to ``tmp/`` and are renamed into place; on S3 a single
PUT or a completed multipart upload is atomic by the protocol, so no partial
object is ever visible under its final key. Every read checks the hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from mlstage.errors import IntegrityError, InvalidInput, NotFound, Unavailable

_CHUNK = 1 << 20
_HEX = set("0123456789abcdef")


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_sha256(sha: str) -> str:
    if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX:
        raise InvalidInput(f"sha256 must be 64 lowercase hex characters, got {sha!r}")
    return sha


class ArtifactStore:
    """Content-addressed storage under one root: a folder or ``s3://bucket/prefix``."""

    def __init__(self, root: str, *, s3_endpoint_url: str = "") -> None:
        self.root = root.rstrip("/")
        self.is_local = "://" not in root or root.startswith("file://")
        if self.is_local:
            self.root = str(Path(root.removeprefix("file://")).resolve())
            self.fs: Any = None
        else:
            self.fs = _remote_filesystem(root, s3_endpoint_url)

    def _key(self, sha: str) -> str:
        check_sha256(sha)
        return f"{self.root}/sha256/{sha[:2]}/{sha[2:4]}/{sha}"

    def exists(self, sha: str) -> bool:
        key = self._key(sha)
        return os.path.exists(key) if self.is_local else bool(self.fs.exists(key))

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store ``data``; return its sha256 and size."""
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            if self.is_local:
                self._local_atomic_write(sha, lambda handle: handle.write(data))
            else:
                self._remote(lambda: self.fs.pipe_file(self._key(sha), data))
        else:
            self._touch(sha)
        return sha, len(data)

    def _touch(self, sha: str) -> None:
        """Mark a blob that is written again as new: garbage collection spares young blobs,
        so one it listed as unreferenced survives a write that reuses it (local folders)."""
        if self.is_local:
            with contextlib.suppress(OSError):
                os.utime(self._key(sha))

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Store a local file by streaming it; return its sha256 and size."""
        sha, size = sha256_file(path)
        if not self.exists(sha):
            if self.is_local:

                def copy(handle: IO[bytes]) -> None:
                    with open(path, "rb") as source:
                        shutil.copyfileobj(source, handle, _CHUNK)

                self._local_atomic_write(sha, copy)
            else:
                self._remote(lambda: self.fs.put_file(str(path), self._key(sha)))
        else:
            self._touch(sha)
        # The file may have changed while it was copied: check what was stored.
        if self.is_local:
            stored, _ = sha256_file(self._key(sha))
            if stored != sha:
                os.unlink(self._key(sha))
                raise IntegrityError(f"{path} changed while it was being stored; try again")
        return sha, size

    def get_bytes(self, sha: str) -> bytes:
        """The blob's bytes, after checking they hash to ``sha``."""
        key = self._key(sha)
        try:
            if self.is_local:
                data = Path(key).read_bytes()
            else:
                data = self._remote(lambda: self.fs.cat_file(key))
        except FileNotFoundError as exc:
            raise NotFound(f"blob {sha} is missing from the artifact store {self.root}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise IntegrityError(
                f"blob {sha} in {self.root} is corrupt: its content hashes to {actual}"
            )
        return data

    def get_file(self, sha: str, destination: str | os.PathLike[str]) -> None:
        """Write the blob to ``destination`` atomically, after checking its hash."""
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".mlstage-")
        try:
            with os.fdopen(fd, "wb") as handle:
                if self.is_local:
                    try:
                        with open(self._key(sha), "rb") as source:
                            shutil.copyfileobj(source, handle, _CHUNK)
                    except FileNotFoundError as exc:
                        raise NotFound(f"blob {sha} is missing from {self.root}") from exc
                else:
                    handle.write(self.get_bytes(sha))
            actual, _ = sha256_file(tmp)
            if actual != sha:
                raise IntegrityError(f"blob {sha} in {self.root} is corrupt (hashes to {actual})")
            os.replace(tmp, destination)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _local_atomic_write(self, sha: str, write: Any) -> None:
        final = Path(self._key(sha))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(self.root) / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{sha[:12]}-")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _remote(self, action: Any) -> Any:
        try:
            return action()
        except FileNotFoundError:
            raise
        except (OSError, ConnectionError) as exc:
            raise Unavailable(f"artifact store {self.root} failed: {exc}") from exc


def _remote_filesystem(root: str, s3_endpoint_url: str) -> Any:
    protocol = root.split("://", 1)[0]
    if protocol not in ("s3", "memory"):
        raise InvalidInput(
            f"artifact root {root!r}: scheme {protocol!r} is not supported; "
            "use a folder path or s3://bucket/prefix"
        )
    import fsspec

    options: dict[str, Any] = {}
    if protocol == "s3":
        try:
            import s3fs  # noqa: F401
        except ImportError as exc:
            raise InvalidInput(
                "artifact root is on S3 but s3fs is missing: pip install 'mlstage[s3]'"
            ) from exc
        if s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
        options["skip_instance_cache"] = True
    return fsspec.filesystem(protocol, **options)


_stores: dict[tuple[str, str], ArtifactStore] = {}
_lock = threading.Lock()


def get_artifact_store(root: str, s3_endpoint_url: str = "") -> ArtifactStore:
    with _lock:
        key = (root, s3_endpoint_url)
        if key not in _stores:
            _stores[key] = ArtifactStore(root, s3_endpoint_url=s3_endpoint_url)
        return _stores[key]
