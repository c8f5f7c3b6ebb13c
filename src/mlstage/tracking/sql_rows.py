"""Rows of the tracking tables as entities, and checked rows from entities."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row

from mlstage.tracking import validation as v
from mlstage.tracking.entities import (
    RUN_STATUSES,
    ColumnSchema,
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunContext,
    trusted,
)

NAN = float("nan")


def like_prefix(path: str) -> str:
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if not tags:
        return {}
    return {v.check_key(k, "tag key"): v.check_tag_value(k, x) for k, x in tags.items()}


def metric_row(run_id: str, metric: Metric) -> dict[str, Any]:
    key = v.check_key(metric.key, "metric key")
    value = v.check_metric_value(key, metric.value)
    return {
        "run_id": run_id,
        "key": key,
        "step": v.check_step(key, metric.step),
        "timestamp": int(metric.timestamp),
        "value": None if value != value else value,
    }


def default_run_name(run_id: str) -> str:
    return f"run-{run_id[:8]}"


def group_rows(rows: Sequence[Row[Any]], by: str) -> dict[Any, dict[str, str]]:
    out: dict[Any, dict[str, str]] = defaultdict(dict)
    for row in rows:
        out[getattr(row, by)][row.key] = row.value
    return out


def experiment_entity(row: Row[Any], tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        lifecycle_stage=row.lifecycle_stage,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=tags,
    )


def input_entity(row: Row[Any]) -> DatasetInput:
    schema = [ColumnSchema.model_construct(**c) for c in json.loads(row.schema)]
    dataset = Dataset.model_construct(
        name=row.name,
        digest=row.digest,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        schema_=schema,
        source=row.source,
    )
    return DatasetInput.model_construct(dataset=dataset, context=row.context)


def run_entity(
    row: Row[Any],
    metrics: dict[str, float],
    params: dict[str, str],
    tags: dict[str, str],
    inputs: list[DatasetInput],
) -> Run:
    # Rows were checked on the way in, and a search may build thousands of runs.
    context = trusted(
        RunContext,
        {
            "user": row.user,
            "host": row.host,
            "source": row.source,
            "command": row.command,
            "git_commit": row.git_commit,
            "git_dirty": row.git_dirty,
            "python_version": row.python_version,
            "packages": _packages(row.packages),
        },
    )
    return trusted(
        Run,
        {
            "run_id": row.run_id,
            "experiment_id": str(row.experiment_id),
            "name": row.name,
            "status": RUN_STATUSES[row.status],
            "lifecycle_stage": row.lifecycle_stage,
            "start_time": row.start_time,
            "end_time": row.end_time,
            "status_reason": row.status_reason,
            "context": context,
            "metrics": metrics,
            "params": params,
            "tags": tags,
            "inputs": inputs,
        },
    )


@functools.lru_cache(maxsize=256)
def _packages_json(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(json.loads(text).items())


def _packages(text: str) -> dict[str, str]:
    # Most runs of a project share one set of versions: parse each distinct set once.
    return dict(_packages_json(text))
