"""Content-addressed blobs on a local folder and on S3 (a moto server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlstage.artifacts.store import ArtifactStore
from mlstage.errors import IntegrityError, InvalidInput, NotFound


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "root"))
    s3_server = request.getfixturevalue("s3_server")
    root = request.getfixturevalue("s3_root")
    return ArtifactStore(root, s3_endpoint_url=s3_server)


def test_bytes_round_trip_under_their_hash(blobs: ArtifactStore) -> None:
    sha, size = blobs.put_bytes(b"model weights")
    assert sha == hashlib.sha256(b"model weights").hexdigest()
    assert size == 13
    assert blobs.exists(sha)
    assert blobs.get_bytes(sha) == b"model weights"
    assert blobs.put_bytes(b"model weights") == (sha, size)  # idempotent


def test_files_stream_in_and_out(blobs: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    sha, size = blobs.put_file(source)
    assert size == 3 << 20
    target = tmp_path / "out" / "copy.bin"
    blobs.get_file(sha, target)
    assert target.read_bytes() == source.read_bytes()


def test_missing_blob_is_not_found(blobs: ArtifactStore) -> None:
    with pytest.raises(NotFound, match="missing"):
        blobs.get_bytes("0" * 64)
    with pytest.raises(InvalidInput, match="64 lowercase hex"):
        blobs.get_bytes("../../etc/passwd")


def test_a_corrupted_local_blob_is_detected(tmp_path: Path) -> None:
    blobs = ArtifactStore(str(tmp_path))
    sha, _ = blobs.put_bytes(b"original")
    Path(blobs._key(sha)).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="corrupt"):
        blobs.get_bytes(sha)
    with pytest.raises(IntegrityError, match="corrupt"):
        blobs.get_file(sha, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()  # nothing half-written


def test_a_corrupted_s3_blob_is_detected(s3_server: str, s3_root: str) -> None:
    blobs = ArtifactStore(s3_root, s3_endpoint_url=s3_server)
    sha, _ = blobs.put_bytes(b"original")
    blobs.fs.pipe_file(blobs._key(sha), b"tampered")
    with pytest.raises(IntegrityError, match="corrupt"):
        blobs.get_bytes(sha)


def test_local_writes_leave_no_partial_file(tmp_path: Path) -> None:
    blobs = ArtifactStore(str(tmp_path))

    class Boom(Exception):
        pass

    def failing_write(handle: object) -> None:
        handle.write(b"half")  # type: ignore[attr-defined]
        raise Boom

    sha = hashlib.sha256(b"whole").hexdigest()
    with pytest.raises(Boom):
        blobs._local_atomic_write(sha, failing_write)
    assert not blobs.exists(sha)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="scheme 'ftp' is not supported"):
        ArtifactStore("ftp://127.0.0.1/a")


def test_tracking_store_on_s3_artifacts(s3_server: str, s3_root: str, sqlite_url: str) -> None:
    """A run's artifacts land in S3 and read back through the tracking store."""
    from mlstage.store.database import Database
    from mlstage.tracking.sql_store import SqlTrackingStore

    store = SqlTrackingStore(
        Database(sqlite_url), ArtifactStore(s3_root, s3_endpoint_url=s3_server)
    )
    exp = store.create_experiment("s3")
    run = store.create_run(exp.experiment_id)
    info = store.log_artifact(run.run_id, "model/weights.bin", b"\x00\x01")
    assert store.read_artifact(run.run_id, "model/weights.bin") == b"\x00\x01"
    assert store.artifacts.fs.exists(store.artifacts._key(info.sha256 or ""))
