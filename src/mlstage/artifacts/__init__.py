"""Content-addressed blob storage over fsspec (a local folder or s3://)."""

from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.artifacts.store import ArtifactStore, get_artifact_store

__all__ = ["ArtifactStore", "canonical_artifact_path", "get_artifact_store"]
