"""The classification of an object: declared on it, or inherited through lineage at the highest.

Storage choice: people declare levels on datasets (by name, every version),
runs and model versions, one row each in ``classifications``; everything
else is computed when read, from the lineage the other stores record
already: a run takes the highest of its declared level and the datasets
it logged (``run_inputs``; for a pipeline step, those every step of its
pipeline run logged, since data flows between steps), a model version the highest of its own and its
source run's, a deployment the highest of the versions it serves, a run's
artifacts the highest of the run's and of versions registered from it.
Computing on read changes no tracking, registry or deployment table, needs
no write in their hot paths, and can never go stale: relabel a dataset and
every run, version and deployment built on it follows at once. The cost is
a few small indexed queries per policy check, which happen on deploy, load,
export and download, never per prediction. Unlabelled data takes the
``default_classification`` setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select

from mlstage.errors import InvalidInput, NotFound
from mlstage.governance import audit
from mlstage.governance.classification import Levels
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.config import Settings

PIPELINE_TAG = "mlstage.pipeline_run_id"
"""The tag pipeline step runs carry: the steps of one pipeline run share their inputs."""
KINDS = ("dataset", "run", "model")
"""What a level may be declared on: a dataset name, a run id, a model version (``name/3``)."""


@dataclass(frozen=True)
class Classified:
    """An object's level and where it comes from (``declared``, ``from dataset 'x'``, ...)."""

    kind: str
    ref: str
    level: str
    because: str

    def describe(self) -> str:
        return f"{self.kind} {self.ref!r} is {self.level} ({self.because})"


class Classifier:
    """Reads levels inside one connection; caches what it looked up."""

    def __init__(self, conn: Connection, levels: Levels) -> None:
        self.conn = conn
        self.levels = levels
        self._labels: dict[tuple[str, str], str | None] = {}

    def label(self, kind: str, ref: str) -> str | None:
        key = (kind, ref)
        if key not in self._labels:
            c = t.classifications.c
            self._labels[key] = self.conn.execute(
                select(c.level).where(c.object_kind == kind, c.object_id == ref)
            ).scalar()
        return self._labels[key]

    def _pick(self, kind: str, ref: str, found: Iterable[tuple[str, str]]) -> Classified:
        """The highest of (level, because) pairs; the default when there are none."""
        candidates = list(found)
        declared = self.label(kind, ref)
        if declared is not None:
            candidates.insert(0, (declared, "declared"))
        if not candidates:
            return Classified(kind, ref, self.levels.default, "unlabelled: the default level")
        level, because = max(candidates, key=lambda pair: self.levels.rank(pair[0]))
        return Classified(kind, ref, level, because)

    def dataset(self, name: str) -> Classified:
        return self._pick("dataset", name, [])

    def run(self, run_id: str) -> Classified:
        i, d = t.run_inputs.c, t.datasets.c
        runs = self._pipeline_runs(run_id)
        names = self.conn.execute(
            select(d.name).join_from(t.run_inputs, t.datasets).where(i.run_id.in_(runs)).distinct()
        ).scalars()
        found = []
        for name in sorted(names):
            dataset = self.dataset(name)
            found.append((dataset.level, f"from dataset {name!r}"))
        return self._pick("run", run_id, found)

    def _pipeline_runs(self, run_id: str) -> list[str]:
        return pipeline_step_runs(self.conn, run_id)

    def model_version(self, model: str, version: int) -> Classified:
        m, v = t.registered_models.c, t.model_versions.c
        run_id = self.conn.execute(
            select(v.run_id).join_from(t.model_versions, t.registered_models)
            .where(m.name == model, v.version == version)
        ).scalar()  # fmt: skip
        found = []
        if run_id:
            run = self.run(run_id)
            found.append((run.level, f"from run {run_id}, {run.because}"))
        return self._pick("model", f"{model}/{version}", found)

    def versions(self, model: str, versions: Iterable[int], kind: str, ref: str) -> Classified:
        found = []
        for version in sorted(set(versions)):
            got = self.model_version(model, version)
            found.append((got.level, f"from model {got.ref}, {got.because}"))
        return self._pick(kind, ref, found)

    def model(self, name: str) -> Classified | None:
        """The highest level of any version of ``name``; ``None`` if it has none."""
        m, v = t.registered_models.c, t.model_versions.c
        versions = self.conn.execute(
            select(v.version).join_from(t.model_versions, t.registered_models).where(m.name == name)
        ).scalars().all()  # fmt: skip
        return self.versions(name, versions, "model", name) if versions else None

    def deployment(self, name: str) -> Classified:
        d = t.deployments.c
        row = self.conn.execute(
            select(d.model, d.primary_version, d.candidate_version).where(d.name == name)
        ).first()
        if row is None:
            raise NotFound(f"deployment {name!r} does not exist")
        versions = [row.primary_version] + [row.candidate_version] * (
            row.candidate_version is not None
        )
        return self.versions(row.model, versions, "deployment", name)

    def run_artifacts(self, run_id: str) -> Classified:
        """A run's files: the run's level, raised by any version registered from the run."""
        run = self.run(run_id)
        m, v = t.registered_models.c, t.model_versions.c
        rows = self.conn.execute(
            select(m.name, v.version).join_from(t.model_versions, t.registered_models)
            .where(v.run_id == run_id)
        ).all()  # fmt: skip
        found = [(run.level, run.because)]
        for name, version in rows:
            got = self.model_version(name, version)
            found.append((got.level, f"as model {got.ref}, {got.because}"))
        level, because = max(found, key=lambda pair: self.levels.rank(pair[0]))
        return Classified("run", run_id, level, because)


def declare(
    conn: Connection, levels: Levels, kind: str, ref: str, level: str, *, actor: str, at: int
) -> Classified:
    """Label ``kind``/``ref`` with ``level`` in ``conn``'s transaction, with its audit entry."""
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} takes no classification; use one of {', '.join(KINDS)}"
                           " (deployments take the highest of their versions)")  # fmt: skip
    level = levels.check(level)
    _require(conn, kind, ref)
    c = t.classifications.c
    where = (c.object_kind == kind) & (c.object_id == ref)
    before = conn.execute(select(c.level).where(where)).scalar()
    conn.execute(t.classifications.delete().where(where))
    conn.execute(
        insert(t.classifications).values(
            object_kind=kind, object_id=ref, level=level, declared_by=actor[:250], declared_at=at
        )
    )
    audit.record(
        conn,
        at=at,
        actor=actor or "unknown",
        action="classification.declare",
        object_type=kind,
        object_id=ref,
        before=None if before is None else {"level": before},
        after={"level": level},
    )
    return Classified(kind, ref, level, "declared")


def _require(conn: Connection, kind: str, ref: str) -> None:
    if kind == "dataset":
        tracked = conn.execute(select(t.datasets.c.name).where(t.datasets.c.name == ref)).first()
        registered = conn.execute(
            select(t.registered_datasets.c.name).where(t.registered_datasets.c.name == ref)
        ).first()
        if tracked is None and registered is None:
            raise NotFound(f"dataset {ref!r} does not exist: register it (mlstage datasets "
                           "register) or log it in a run first")  # fmt: skip
    elif kind == "run":
        if conn.execute(select(t.runs.c.run_id).where(t.runs.c.run_id == ref)).first() is None:
            raise NotFound(f"run {ref!r} does not exist")
    else:
        name, _, version = ref.rpartition("/")
        m, v = t.registered_models.c, t.model_versions.c
        found = None
        if name and version.isdigit():
            found = conn.execute(
                select(v.version).join_from(t.model_versions, t.registered_models)
                .where(m.name == name, v.version == int(version))
            ).first()  # fmt: skip
        if found is None:
            raise NotFound(
                f"model version {ref!r} does not exist (give name/version, e.g. churn/3)"
            )


def model_level(settings: Settings, model: str) -> str | None:
    """The highest level of any version of ``model``, for what spans versions (its request
    log, its retention); ``None`` when it cannot be known here (a server URI, no such model)."""
    from mlstage.governance.policy import policy_for

    policy = policy_for(settings)
    if policy is None:
        return None
    with policy.db.read() as conn:
        found = Classifier(conn, policy.levels).model(model)
    return None if found is None else found.level


def pipeline_step_runs(conn: Connection, run_id: str) -> list[str]:
    """The run and, if it is a pipeline step, every step run of its pipeline run: data
    flows between steps (the step that loads a dataset is not the one that registers)."""
    g = t.tags.c
    parent = conn.execute(select(g.value).where(g.key == PIPELINE_TAG, g.run_id == run_id)).scalar()
    if parent is None:
        return [run_id]
    steps = conn.execute(select(g.run_id).where(g.key == PIPELINE_TAG, g.value == parent)).scalars()
    return sorted({run_id, *steps})
