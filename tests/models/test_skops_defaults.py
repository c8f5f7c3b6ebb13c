"""The cache of skops' default trusted types: the same lists as skops' own, or no cache at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlstage.models.flavors import skops_defaults

# Each prints the default lists skops trusts in a fresh process, and whether they came from
# mlstage's cache; the first imports skops as it ships, the second through mlstage.
PLAIN = (
    "import json, skops.io, sys; from mlstage.models.flavors.skops_defaults import default_lists; "
    "m = sys.modules['skops.io._trusted_types']; "
    "print(json.dumps([default_lists(m), hasattr(m, '__mlstage_cached__')]))"
)
THROUGH_MLSTAGE = (
    "import json, sys; from mlstage.models.flavors.skops_defaults import default_lists, "
    "import_skops_io; import_skops_io(); m = sys.modules['skops.io._trusted_types']; "
    "print(json.dumps([default_lists(m), hasattr(m, '__mlstage_cached__')]))"
)


def fresh(code: str) -> tuple[dict[str, list[str]], bool]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    lists, cached = json.loads(done.stdout.strip().splitlines()[-1])
    return lists, cached


def current_cache() -> Path:
    key = skops_defaults._cache_key()
    assert key is not None
    return skops_defaults.cache_file(key)


def test_a_fresh_process_trusts_what_skops_trusts_with_or_without_the_cache() -> None:
    plain, plain_cached = fresh(PLAIN)
    assert not plain_cached
    assert (
        "sklearn.ensemble._forest.RandomForestClassifier" in plain["SKLEARN_ESTIMATOR_TYPE_NAMES"]
    )
    first, _ = fresh(THROUGH_MLSTAGE)  # writes the cache if there was none
    assert first == plain
    assert current_cache().is_file()
    second, second_cached = fresh(THROUGH_MLSTAGE)
    assert second_cached, "the second process should have used the cache"
    assert second == plain


def spoil_lists(path: Path, key: str) -> None:
    path.write_text(json.dumps({"key": key, "lists": {"X_NAMES": [1]}}), encoding="utf-8")


def spoil_key(path: Path, key: str) -> None:
    lists = {"SKLEARN_ESTIMATOR_TYPE_NAMES": ["builtins.eval"]}
    path.write_text(json.dumps({"key": key[::-1], "lists": lists}), encoding="utf-8")


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda path, key: path.chmod(0o666), id="world-writable"),
        pytest.param(lambda path, key: path.chmod(0o664), id="group-writable"),
        pytest.param(lambda path, key: path.write_text("{not json"), id="malformed"),
        pytest.param(spoil_key, id="another-key"),
        pytest.param(spoil_lists, id="not-lists-of-names"),
    ],
)
def test_a_cache_that_is_not_trustworthy_is_ignored(
    spoil: Callable[[Path, str], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = skops_defaults._cache_key()
    assert key is not None
    monkeypatch.setattr(skops_defaults, "CACHE_DIR", tmp_path)
    path = skops_defaults.cache_file(key)
    lists = {"PRIMITIVE_TYPE_NAMES": ["builtins.int"]}
    path.write_text(json.dumps({"key": key, "lists": lists}), encoding="utf-8")
    path.chmod(0o644)
    assert skops_defaults._read(key) == lists
    spoil(path, key)
    assert skops_defaults._read(key) is None
