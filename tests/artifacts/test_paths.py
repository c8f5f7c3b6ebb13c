"""Artifact paths from users are canonicalised and can never leave their run."""

from __future__ import annotations

import pytest

from mlstage.artifacts.paths import canonical_artifact_path, canonical_prefix
from mlstage.errors import InvalidInput


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("model.pkl", "model.pkl"),
        ("plots/roc.png", "plots/roc.png"),
        ("dir/", "dir"),
        ("a b/c-d_e.f", "a b/c-d_e.f"),
    ],
)
def test_good_paths(path: str, canonical: str) -> None:
    assert canonical_artifact_path(path) == canonical


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../x", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("./a", "'.' or '..' segment"),
        ("a//b", "empty"),
        ("/etc/passwd", "must be relative"),
        ("C:/Windows", "must be relative"),
        ("s3://bucket/key", "must be relative"),
        ("a\\..\\b", "must use '/'"),
        ("a\x00b", "may only contain"),
        ("new\nline", "may only contain"),
        ("", "must not be empty"),
        ("x" * 1001, "the limit is 1000"),
        ("%2e%2e/x", "may only contain"),
    ],
)
def test_bad_paths_are_refused(path: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        canonical_artifact_path(path)


def test_prefix_for_listing() -> None:
    assert canonical_prefix(None) == canonical_prefix("/") == ""
    assert canonical_prefix("plots/") == "plots"
