"""What an assessment reads: mlstage's own records and the project's repository.

One ``Evidence`` object answers every check's questions with a handful of
small queries (each cached), so an assessment costs well under a second
even on a large store. Tables of concerns a project does not use yet simply
hold no rows; the checks then say what is missing and how to add it.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from mlstage.store import tables as t
from mlstage.store.database import Database

DAY_MS = 86_400_000
RECENT_DAYS = 30
CI_FILES = (".gitlab-ci.yml", ".github/workflows")
SECRET_PATTERNS = (
    re.compile(rb"mls_[A-Za-z0-9_\-]{20,}"),
    re.compile(rb"AKIA[0-9A-Z]{16}"),
    re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"),
)
MAX_SCANNED_BYTES = 1_000_000
NOT_TRAINING = ("mlstage.evaluation.model_uri", "mlstage.validation.candidate")
"""Tags of the runs evaluation and the validation gate log: not training runs."""


@dataclass(frozen=True)
class ProductionModel:
    """The deployment taken as "production" and the version it serves."""

    deployment: str
    environment: str
    model: str
    version: int
    strategy: str


class Evidence:
    """Cached answers about one project: its settings, repository and store."""

    def __init__(self, db: Database, project: dict[str, Any], root: Path, now_ms: int = 0):
        self.db = db
        self.project = project
        self.root = root
        self.now = now_ms or int(time.time() * 1000)

    # -- the database -------------------------------------------------------------------

    def rows(self, query: Any) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(query))

    def scalar(self, query: Any) -> Any:
        with self.db.read() as conn:
            return conn.execute(query).scalar()

    def has_table(self, name: str) -> bool:
        return name in self._tables

    @functools.cached_property
    def _tables(self) -> frozenset[str]:
        with self.db.read() as conn:
            return frozenset(inspect(conn).get_table_names())

    def count(self, table: str, where: str = "", **params: Any) -> int:
        """Rows of a table that may not exist (a concern added later): 0 if it is missing."""
        if not self.has_table(table):
            return 0
        # table and where are constants of mlstage's own checks; values go in as parameters
        sql = f'SELECT COUNT(*) FROM "{table}"' + (f" WHERE {where}" if where else "")  # noqa: S608
        with self.db.read() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)

    @functools.cached_property
    def recent_runs(self) -> list[Any]:
        """Finished training runs of the last 30 days (evaluation and validation runs left out)."""
        r, e = t.runs.c, t.experiments.c
        since = self.now - RECENT_DAYS * DAY_MS
        query = (
            select(r.run_id, r.name, r.source, r.git_commit, r.packages, e.name.label("exp"))
            .join_from(t.runs, t.experiments)
            .where(r.start_time >= since, r.status == "FINISHED", r.lifecycle_stage == "active")
            .where(~e.name.like("%-validation"))
            .where(~r.run_id.in_(select(t.tags.c.run_id).where(t.tags.c.key.in_(NOT_TRAINING))))
            .order_by(r.start_time.desc())
            .limit(500)
        )
        return self.rows(query)

    @functools.cached_property
    def training_units(self) -> list[tuple[str, list[str], bool]]:
        """Recent training, as (label, run ids, git commit recorded): a run, or a pipeline run.

        A pipeline run is one unit: its steps are runs, and together they record
        the params, metrics and data of one training.
        """
        ids = [r.run_id for r in self.recent_runs]
        pipeline_of: dict[str, str] = {}
        if ids:
            g = t.tags.c
            rows = self.rows(
                select(g.run_id, g.value).where(
                    g.key == "mlstage.pipeline_run_id", g.run_id.in_(ids)
                )
            )
            pipeline_of = {run_id: value for run_id, value in rows}
        units: dict[str, tuple[str, list[str], bool]] = {}
        for run in self.recent_runs:
            parent = pipeline_of.get(run.run_id)
            key = f"pipeline run {parent}" if parent else f"run {run.run_id}"
            label, members, commit = units.get(key, (key, [], False))
            units[key] = (label, [*members, run.run_id], commit or bool(run.git_commit))
        return list(units.values())

    def run_ids_with(self, table: Any, run_ids: list[str]) -> set[str]:
        if not run_ids:
            return set()
        return {
            row[0]
            for row in self.rows(
                select(table.c.run_id).where(table.c.run_id.in_(run_ids)).distinct()
            )
        }

    def run_ids_tagged(self, key: str, run_ids: list[str]) -> set[str]:
        if not run_ids:
            return set()
        g = t.tags.c
        query = select(g.run_id).where(g.key == key, g.run_id.in_(run_ids)).distinct()
        return {row[0] for row in self.rows(query)}

    @functools.cached_property
    def production(self) -> ProductionModel | None:
        """The ``prod`` deployment (else any, newest first) and what it serves."""
        d = t.deployments.c
        rows = self.rows(
            select(d.name, d.environment, d.model, d.primary_version, d.strategy).order_by(
                (d.environment == "prod").desc(), d.updated_at.desc()
            )
        )
        if not rows:
            return None
        name, env, model, version, strategy = rows[0]
        return ProductionModel(name, env, model, int(version), strategy)

    @functools.cached_property
    def versions(self) -> list[Any]:
        m, v = t.registered_models.c, t.model_versions.c
        return self.rows(
            select(m.name, v.version, v.run_id, v.status, v.validation, v.card, v.files)
            .join_from(t.model_versions, t.registered_models)
            .order_by(m.name, v.version)
        )

    def versions_of(self, model: str) -> list[Any]:
        return [row for row in self.versions if row.name == model]

    @functools.cached_property
    def deployment_events(self) -> list[Any]:
        h, d = t.deployment_history.c, t.deployments.c
        return self.rows(
            select(h.name, h.action, h.actor, h.reason, h.at, h.after, d.environment)
            .join(t.deployments, d.name == h.name)
            .order_by(h.entry_id)
        )

    @functools.cached_property
    def model_history(self) -> list[Any]:
        h, m = t.model_history.c, t.registered_models.c
        return self.rows(
            select(m.name, h.version, h.action, h.alias, h.actor, h.reason, h.at)
            .join_from(t.model_history, t.registered_models)
            .order_by(h.entry_id)
        )

    @functools.cached_property
    def pipeline_runs(self) -> list[Any]:
        p, d = t.pipeline_runs.c, t.pipeline_definitions.c
        return self.rows(
            select(
                p.run_id,
                p.pipeline,
                p.status,
                p.executor,
                p.params,
                p.start_time,
                p.end_time,
                d.spec_hash,
            )
            .join_from(t.pipeline_runs, t.pipeline_definitions)
            .order_by(p.start_time.desc())
            .limit(200)
        )

    def succeeded_pipeline_runs(self) -> list[Any]:
        return [row for row in self.pipeline_runs if row.status in ("SUCCEEDED", "FINISHED")]

    def step_names(self, pipeline_run_id: str) -> list[tuple[str, str, str]]:
        s = t.pipeline_step_runs.c
        rows = self.rows(
            select(s.step, s.function, s.status).where(s.pipeline_run_id == pipeline_run_id)
        )
        return [(row.step, row.function, row.status) for row in rows]

    def prediction_log_files(self, model: str) -> int:
        return int(
            self.scalar(
                select(func.count())
                .select_from(t.prediction_logs)
                .where(t.prediction_logs.c.model == model)
            )
            or 0
        )

    def artifact_present(self, sha: str) -> bool:
        from mlstage.artifacts.store import get_artifact_store
        from mlstage.config import get_settings

        settings = get_settings()
        store = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
        return store.exists(sha)

    def table_rows(self, table: str, columns: str, where: str = "", **params: Any) -> list[Any]:
        """Rows of a table that may not exist yet (then none)."""
        if not self.has_table(table):
            return []
        # as in ``count``: constants of the checks, values as parameters
        sql = f'SELECT {columns} FROM "{table}"' + (f" WHERE {where}" if where else "")  # noqa: S608
        with self.db.read() as conn:
            return list(conn.execute(text(sql), params))

    @functools.cached_property
    def monitorings(self) -> list[Any]:
        """What the monitoring file(s) of the project declare: a ``Monitoring`` per subject."""
        from mlstage.errors import MlstageError
        from mlstage.monitoring.definitions import CONFIG_NAMES, load_monitoring

        found: list[Any] = []
        for config_name in CONFIG_NAMES:
            path = self.root / config_name
            if not path.is_file():
                continue
            try:
                found += load_monitoring(path)
            except (MlstageError, OSError, ValueError):
                continue  # a broken file proves nothing; `mlstage monitor check` reports it
        return found

    def alert_rules(self) -> list[str]:
        """Names of the alert rules declared in the project's monitoring file(s)."""
        return [rule.name for m in self.monitorings for rule in m.alerts]

    def triggers(self) -> list[str]:
        """``deployment: trigger`` for every retraining trigger declared with a pipeline to run."""
        return [
            f"{m.deployment}: {trigger.name}"
            for m in self.monitorings
            if m.retrain is not None
            for trigger in m.triggers
        ]

    def lineage_runs(self, run_id: str) -> list[str]:
        """The run and, if a pipeline step made it, every step run of that pipeline run."""
        from mlstage.governance.classified import pipeline_step_runs

        with self.db.read() as conn:
            return pipeline_step_runs(conn, run_id)

    # -- the repository ------------------------------------------------------------------

    @functools.cached_property
    def tracked_files(self) -> list[str]:
        """Files git tracks in the project (all files under the root when it is no repo)."""
        try:
            done = subprocess.run(
                ["git", "ls-files", "-z"],
                cwd=self.root,
                capture_output=True,
                timeout=20,
                check=True,
            )
            return [p for p in done.stdout.decode("utf-8", "replace").split("\0") if p]
        except (OSError, subprocess.SubprocessError):
            return []

    @functools.cached_property
    def in_git(self) -> bool:
        return bool(self.tracked_files)

    def files_matching(self, pattern: str) -> list[str]:
        regex = re.compile(pattern)
        return [p for p in self.tracked_files if regex.search(p)]

    @functools.cached_property
    def ci_files(self) -> list[str]:
        return [p for p in self.tracked_files if p.startswith(CI_FILES)]

    def ci_text(self) -> str:
        return "\n".join(self.read_text(p) for p in self.ci_files)

    def read_text(self, relative: str, limit: int = MAX_SCANNED_BYTES) -> str:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            return ""
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")

    @functools.cached_property
    def secret_findings(self) -> list[str]:
        """Tracked files holding something shaped like a token or a private key."""
        found = []
        for relative in self.tracked_files[:5000]:
            path = self.root / relative
            try:
                if path.stat().st_size > MAX_SCANNED_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if any(p.search(data) for p in SECRET_PATTERNS):
                found.append(relative)
        return found


def load_json(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def has_rows(conn: Connection, table: Any) -> bool:
    return conn.execute(select(func.count()).select_from(table)).scalar() != 0
