"""The validation gate: a candidate is VALIDATED only if it meets every threshold.

Like TFX's "blessing": the candidate and the current champion are scored on
the same data; thresholds are absolute (``min``, ``max``) or relative to the
champion (``min_delta`` for higher-is-better metrics, ``max_delta`` for
lower-is-better ones), overall and for every value of each slice column.
Each check gives one line of the verdict, passing or failing, so a
rejection explains itself. ``promote`` moves an alias only to a VALIDATED
version.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from mlstage.errors import InvalidInput, NotFound
from mlstage.models.evaluation import TASKS, EvaluationResult, Task, check_inputs, evaluate
from mlstage.models.validation_checks import Bounds, Checker, check_thresholds, uses_deltas

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.models.entities import ModelVersion

MAX_SUMMARY = 2000


class Verdict(BaseModel):
    """The gate's decision and its reasons, recorded on the registry version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    reasons: list[str]
    """One line per check, passing, failing or skipped, plus notes on the baseline."""
    candidate: str
    candidate_version: int | None = None
    champion: str | None = None
    """The champion actually compared against (resolved to a version), or None."""
    champion_version: int | None = None
    candidate_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    candidate_slices: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    champion_slices: dict[str, dict[str, dict[str, float]]] | None = None
    thresholds: dict[str, Bounds] = Field(default_factory=dict)
    slice_thresholds: dict[str, dict[str, Bounds]] = Field(default_factory=dict)
    checked_at: int
    """Milliseconds since the epoch."""
    checked_by: str = ""
    run_id: str | None = None
    """The validation run, parent of the candidate's and champion's evaluation runs."""
    recorded: bool = False
    """Whether the verdict was recorded on the candidate's registry version."""

    @property
    def failures(self) -> list[str]:
        return [r for r in self.reasons if r.endswith(": FAIL")]

    @property
    def summary(self) -> str:
        checks = [r for r in self.reasons if r.endswith((": pass", ": FAIL"))]
        if self.passed:
            return f"validation passed: {len(checks)} of {len(checks)} checks"
        text = f"validation failed: {len(self.failures)} of {len(checks)} checks; " + "; ".join(
            self.failures
        )
        return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 3] + "..."


class _Model:
    """A model to score: the URI to load (a registry version pinned), its version, a short label."""

    def __init__(self, uri: str, version: ModelVersion | None) -> None:
        self.uri = uri
        self.version = version
        self.label = f"{version.name}/{version.version}" if version is not None else uri


def validate_candidate(
    candidate_uri: str,
    data: pd.DataFrame,
    targets: str,
    task: Task,
    champion: str | None = None,
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
    slice_thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    slices: list[str] | None = None,
    mark: bool = True,
    *,
    log: bool = True,
) -> Verdict:
    """Evaluate the candidate (and the champion, if it resolves) and check every threshold.

    With ``mark=True`` a registry candidate becomes VALIDATED or REJECTED,
    with the verdict stored on the version. A missing champion alias means
    no baseline: relative thresholds are skipped, and the verdict says so.
    """
    from mlstage.tracking.context import collect_context

    overall, per_slice = _thresholds(task, thresholds, slice_thresholds, champion)
    columns = check_inputs(data, targets, task, [*(slices or []), *per_slice])
    candidate = _resolve(candidate_uri)
    baseline, notes = _resolve_champion(champion, candidate)
    if mark and candidate.version is None:
        notes.append(
            f"candidate {candidate.uri} is not a registry version: the verdict is not recorded "
            "on any version (register it and validate models:/<name>/<version> to mark it)"
        )
    user = collect_context().user
    with _validation_run(log, candidate, baseline) as run_id:
        cand = _evaluate(candidate, "candidate", data, targets, task, columns, log)
        champ = _evaluate(baseline, "champion", data, targets, task, columns, log)
        assert cand is not None
        checker = Checker(cand, champ, baseline.label if baseline else "none")
        lines, passed = checker.run(overall, per_slice)
        verdict = Verdict(
            passed=passed,
            reasons=notes + lines,
            candidate=candidate.uri,
            candidate_version=candidate.version.version if candidate.version else None,
            champion=baseline.uri if baseline else None,
            champion_version=baseline.version.version if baseline and baseline.version else None,
            candidate_metrics=cand.metrics,
            champion_metrics=champ.metrics if champ else None,
            candidate_slices=cand.slices,
            champion_slices=champ.slices if champ else None,
            thresholds=overall,
            slice_thresholds=per_slice,
            checked_at=time.time_ns() // 1_000_000,
            checked_by=user,
            run_id=run_id,
            recorded=mark and candidate.version is not None,
        )
        _log_verdict(run_id, verdict)
    if verdict.recorded:
        _record(candidate, verdict, user)
    return verdict


def _thresholds(
    task: str,
    thresholds: Mapping[str, Mapping[str, float]] | None,
    slice_thresholds: Mapping[str, Mapping[str, Mapping[str, float]]] | None,
    champion: str | None,
) -> tuple[dict[str, Bounds], dict[str, dict[str, Bounds]]]:
    if task not in TASKS:
        raise InvalidInput(f"task must be 'classification' or 'regression', got {task!r}")
    if slice_thresholds is not None and not isinstance(slice_thresholds, Mapping):
        raise InvalidInput("slice_thresholds must be a dict: column -> metric -> bounds")
    overall = check_thresholds(thresholds, task, "thresholds", slices=False)
    per_slice = {
        column: check_thresholds(bounds, task, f"slice_thresholds[{column!r}]", slices=True)
        for column, bounds in (slice_thresholds or {}).items()
    }
    if not overall and not any(per_slice.values()):
        raise InvalidInput(
            "give at least one threshold, e.g. thresholds={'roc_auc': {'min': 0.8}}; "
            "a gate without checks would pass any model"
        )
    if champion is None and uses_deltas(overall, *per_slice.values()):
        raise InvalidInput(
            "thresholds use min_delta or max_delta, which compare with the champion: "
            "pass champion= (e.g. 'churn@champion')"
        )
    return overall, per_slice


def _evaluate(
    model: _Model | None,
    role: str,
    data: pd.DataFrame,
    targets: str,
    task: Task,
    columns: list[str],
    log: bool,
) -> EvaluationResult | None:
    if model is None:
        return None
    name = f"evaluate {role} {model.label}"[:250]
    return evaluate(model.uri, data, targets, task, columns, run_name=name, log=log)


# -- models ---------------------------------------------------------------------------------


def _full_uri(uri: str) -> str:
    if not isinstance(uri, str) or not uri:
        raise InvalidInput(f"model URI must be a non-empty string, got {uri!r}")
    return uri if uri.startswith(("models:/", "runs:/")) else f"models:/{uri}"


def _resolve(uri: str) -> _Model:
    """A registry URI pinned to the version it points at now, so an alias move cannot interfere."""
    from mlstage.models.api import get_registry_store
    from mlstage.models.uri import RegistryRef, parse_model_uri

    full = _full_uri(uri)
    ref = parse_model_uri(full)
    if not isinstance(ref, RegistryRef):
        return _Model(full, None)
    version = get_registry_store().resolve(ref)
    return _Model(version.uri, version)


def _resolve_champion(champion: str | None, candidate: _Model) -> tuple[_Model | None, list[str]]:
    """The champion to compare with, or None with the reason (no such alias, no such model yet)."""
    from mlstage.models.uri import RegistryRef, parse_model_uri

    if champion is None:
        return None, ["no champion given: only absolute thresholds are checked"]
    ref = parse_model_uri(_full_uri(champion))
    try:
        found = _resolve(champion)
    except NotFound as exc:
        if isinstance(ref, RegistryRef) and ref.version is None:
            return None, [
                f"no champion baseline: {exc.message}; relative thresholds (min_delta, "
                "max_delta) are skipped, absolute ones are checked"
            ]
        raise
    notes = [f"champion {champion} is {found.label}"]
    if found.uri == candidate.uri:
        notes.append(f"the champion is the candidate itself ({found.label}): every delta is 0")
    return found, notes


# -- logging and recording --------------------------------------------------------------------


@contextmanager
def _validation_run(log: bool, candidate: _Model, champion: _Model | None) -> Iterator[str | None]:
    """A run holding the candidate's and champion's evaluation runs and the verdict."""
    if not log:
        yield None
        return
    from mlstage.tracking import fluent

    tags = {"mlstage.validation.candidate": candidate.uri}
    if champion is not None:
        tags["mlstage.validation.champion"] = champion.uri
    nested = fluent.active_run() is not None
    with fluent.start_run(
        name=f"validate {candidate.label}"[:250], nested=nested, tags=tags
    ) as run:
        yield run.run_id


def _log_verdict(run_id: str | None, verdict: Verdict) -> None:
    if run_id is None:
        return
    from mlstage.tracking import fluent

    fluent.log_dict(verdict.model_dump(mode="json"), "validation/verdict.json", run_id=run_id)
    fluent.set_tag("mlstage.validation.passed", str(verdict.passed).lower(), run_id=run_id)
    fluent.log_metric("validation.passed", 1.0 if verdict.passed else 0.0, run_id=run_id)


def _record(candidate: _Model, verdict: Verdict, user: str) -> None:
    from mlstage.models.api import get_registry_store
    from mlstage.models.entities import VersionStatus

    assert candidate.version is not None
    status = VersionStatus.VALIDATED if verdict.passed else VersionStatus.REJECTED
    get_registry_store().set_version_status(
        candidate.version.name,
        candidate.version.version,
        status,
        actor=user,
        reason=verdict.summary,
        validation=verdict.model_dump(mode="json"),
    )


def reasons_text(verdict: Verdict) -> str:
    """The verdict as lines of text, for the CLI and logs."""
    head = "PASSED" if verdict.passed else "REJECTED"
    return "\n".join([f"{head}: {verdict.candidate}", *(f"  {r}" for r in verdict.reasons)])
