"""The metadata tables, as SQLAlchemy Core, one module per area; import them from here.

Core rather than the ORM: metric inserts and searches are hot paths, and rows
never leave the store anyway (each store converts them to pydantic entities).
Every schema change goes through an Alembic migration in ``migrations/``.
Times are integers: milliseconds since the Unix epoch, as in MLflow.
"""

from mlstage.store.tables._meta import NAMING, metadata
from mlstage.store.tables.data import (
    dataset_versions,
    feature_entities,
    feature_materializations,
    feature_views,
    registered_datasets,
)
from mlstage.store.tables.environments import (  # task "environments" (migration 0015)
    classifications,
    environments,
)
from mlstage.store.tables.governance import (
    api_tokens,
    assessment_answers,
    assessments,
    audit_log,
    projects,
    role_grants,
    sessions,
    users,
)
from mlstage.store.tables.monitoring import (
    alert_deliveries,
    feedback,
    monitor_results,
)
from mlstage.store.tables.pipelines import (
    pipeline_definitions,
    pipeline_runs,
    pipeline_schedule_fires,
    pipeline_schedules,
    pipeline_step_runs,
    scheduler_leases,
)
from mlstage.store.tables.registry import (
    model_aliases,
    model_history,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)
from mlstage.store.tables.retraining import (  # task retraining
    retraining_events,
    retrainings,
)
from mlstage.store.tables.serving import (
    deployment_history,
    deployments,
    prediction_logs,
)
from mlstage.store.tables.tracking import (
    artifacts,
    datasets,
    experiment_tags,
    experiments,
    latest_metrics,
    logged_batches,
    metrics,
    params,
    run_inputs,
    runs,
    tags,
)

__all__ = [
    "NAMING",
    "alert_deliveries",
    "api_tokens",
    "artifacts",
    "assessment_answers",
    "assessments",
    "audit_log",
    "classifications",
    "dataset_versions",
    "datasets",
    "deployment_history",
    "deployments",
    "environments",
    "experiment_tags",
    "experiments",
    "feature_entities",
    "feature_materializations",
    "feature_views",
    "feedback",
    "latest_metrics",
    "logged_batches",
    "metadata",
    "metrics",
    "model_aliases",
    "model_history",
    "model_version_tags",
    "model_versions",
    "monitor_results",
    "params",
    "pipeline_definitions",
    "pipeline_runs",
    "pipeline_schedule_fires",
    "pipeline_schedules",
    "pipeline_step_runs",
    "prediction_logs",
    "projects",
    "registered_datasets",
    "registered_model_tags",
    "registered_models",
    "retraining_events",
    "retrainings",
    "role_grants",
    "run_inputs",
    "runs",
    "scheduler_leases",
    "sessions",
    "tags",
    "users",
]
