"""``apply`` stores definitions once, shows what changed, and is idempotent; on each database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstage.errors import NotFound
from tests.features.conftest import customer_stats, write_repo


def actions(changes: list[Any]) -> list[tuple[str, str, str]]:
    return [(c.kind, c.name, c.action) for c in changes]


def test_apply_is_idempotent_and_reports_changes(
    make_store: Any, project: Path, metadata_url: str
) -> None:
    path = write_repo(project, customer_stats(), ttl_days=3)
    store = make_store(tracking_uri=metadata_url)
    first = store.apply(path)
    assert actions(first) == [
        ("entity", "customer", "created"),
        ("feature view", "customer_stats", "created"),
    ]
    assert "3 features of customer" in first[1].detail
    before = store.registry.get_view("customer_stats")
    assert actions(store.apply(path)) == [
        ("entity", "customer", "unchanged"),
        ("feature view", "customer_stats", "unchanged"),
    ]
    assert store.registry.get_view("customer_stats").updated_at == before.updated_at

    store.registry.record_materialization("customer_stats", "sqlite:///x", 1000, 5)
    write_repo(project, customer_stats(), ttl_days=5)  # a new TTL keeps the online rows
    changed = store.apply(path)
    assert changed[1].action == "updated" and changed[1].detail == "ttl_seconds changed"
    assert store.registry.watermark("customer_stats", "sqlite:///x") == 1000
    assert store.get_feature_view("customer_stats").ttl_seconds == 5 * 86400

    path.write_text(path.read_text().replace(', Field("tier", String)', ""))
    changed = store.apply(path)
    assert changed[1].detail == "removed tier; materialise it again"
    assert store.registry.watermark("customer_stats", "sqlite:///x") is None
    assert [v.name for v in store.list_feature_views()] == ["customer_stats"]


def test_objects_left_out_of_the_file_are_kept_unless_pruned(
    make_store: Any, project: Path, metadata_url: str
) -> None:
    path = write_repo(project, customer_stats())
    store = make_store(tracking_uri=metadata_url)
    store.apply(path)
    text = path.read_text()
    path.write_text(
        text.replace("stats = FeatureView(", "other = FeatureView(\n    'other',", 1).replace(
            '"customer_stats",\n', "", 1
        )
    )
    kept = store.apply(path)
    assert ("feature view", "customer_stats", "unchanged") in actions(kept)
    assert any(c.detail == "not in the file; kept" for c in kept)
    pruned = store.apply(path, prune=True)
    assert ("feature view", "customer_stats", "deleted") in actions(pruned)
    with pytest.raises(NotFound, match="feature view 'customer_stats' is not registered"):
        store.get_feature_view("customer_stats")
    assert [v.name for v in store.list_feature_views()] == ["other"]
