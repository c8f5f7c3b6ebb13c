"""The checks of ``../shared/maturity-checklist.md``, each with how mlstage answers it.

A check is a yes/no question tied to the stage where it first becomes
expected, to People / Process / Technology, and to an evaluator that reads
``Evidence`` and returns an ``Outcome``: passed or not, the evidence that
proves it (the run, version, deployment or file) or what is missing, and the
command that takes the next step. Checks that need a person ("person") are
answered once with ``mlstage assess --answer`` and go stale after 90 days.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from mlstage.governance.assess.evidence import DAY_MS, Evidence, load_json
from mlstage.tracking.context import LOCK_FILES, LOCK_TAG

TEST_TAG = "mlstage.release.tests"
"""A version tag listing the release tests it passed, e.g. ``contract,load``."""


@dataclass(frozen=True)
class Outcome:
    passed: bool
    evidence: str
    """What proves it, or what is missing."""


Evaluator = Callable[[Evidence], Outcome]


@dataclass(frozen=True)
class Check:
    id: str
    stage: int
    dimension: str
    question: str
    keystone: bool
    how: str
    """``auto`` (from records and the repository) or ``person`` (answered once, re-asked)."""
    next_step: str
    """The command (or action) that makes the check pass."""
    evaluate: Evaluator | None = None


def yes(evidence: str) -> Outcome:
    return Outcome(True, evidence)


def no(missing: str) -> Outcome:
    return Outcome(False, missing)


# -- stage 0 -----------------------------------------------------------------------------


def c01(ev: Evidence) -> Outcome:
    owner = str(ev.project.get("owner") or "").strip()
    return yes(f"owner = {owner!r} in mlstage.toml") if owner else no("no owner in mlstage.toml")


def c02(ev: Evidence) -> Outcome:
    missing = [k for k in ("objective", "success_metric") if not ev.project.get(k)]
    if missing:
        return no(f"mlstage.toml [project] lacks {', '.join(missing)}")
    return yes(f"objective and success_metric ({ev.project['success_metric']!r}) recorded")


def c03(ev: Evidence) -> Outcome:
    with_commit = [r for r in ev.recent_runs if r.git_commit]
    if with_commit:
        run = with_commit[0]
        return yes(f"run {run.run_id} recorded git commit {run.git_commit[:12]}")
    return no("no run of the last 30 days recorded a git commit (train from a git repository)")


# -- stage 1 -----------------------------------------------------------------------------


def c04(ev: Evidence) -> Outcome:
    scripted = [
        r for r in ev.recent_runs if r.source.endswith(".py") or r.source.startswith("pipeline:")
    ]
    if not ev.recent_runs:
        return no("no finished run in the last 30 days")
    pipelined = [label for label, _, _ in ev.training_units if label.startswith("pipeline")]
    if pipelined:
        return yes(f"training ran as a pipeline ({pipelined[0]})")
    if scripted:
        return yes(f"run {scripted[0].run_id} ran from {scripted[0].source}")
    return no(f"recent runs ran from {ev.recent_runs[0].source or 'an interactive session'}")


def c05(ev: Evidence) -> Outcome:
    ids = [r.run_id for r in ev.recent_runs]
    pinned = ev.run_ids_tagged(LOCK_TAG, ids)
    if ids and pinned == set(ids):
        return yes(f"all {len(ids)} recent runs recorded the lock file's sha256 ({LOCK_TAG})")
    if not ids:
        return no("no finished run in the last 30 days")
    return no(
        f"{len(ids) - len(pinned)} of {len(ids)} recent runs recorded no lock file "
        f"(keep one of {', '.join(LOCK_FILES[:3])} in the project root)"
    )


def c06(ev: Evidence) -> Outcome:
    from mlstage.store import tables as t

    units = ev.training_units
    if not units:
        return no("no finished training run in the last 30 days")
    ids = [run_id for _, members, _ in units for run_id in members]
    with_params = ev.run_ids_with(t.params, ids)
    with_metrics = ev.run_ids_with(t.latest_metrics, ids)
    lacking = [
        label
        for label, members, commit in units
        if not commit
        or not with_params.intersection(members)
        or not with_metrics.intersection(members)
    ]
    if lacking:
        return no(f"{len(lacking)} of {len(units)} recent trainings lack params, metrics or a "
                  f"commit (e.g. {lacking[0]})")  # fmt: skip
    return yes(f"all {len(units)} trainings of the last 30 days have params, metrics and a commit")


def c07(ev: Evidence) -> Outcome:
    from mlstage.store import tables as t

    units = ev.training_units
    if not units:
        return no("no finished training run in the last 30 days")
    ids = [run_id for _, members, _ in units for run_id in members]
    with_data = ev.run_ids_with(t.run_inputs, ids)
    lacking = [label for label, members, _ in units if not with_data.intersection(members)]
    if not lacking:
        return yes(f"all {len(units)} recent trainings logged their dataset versions")
    return no(f"{len(lacking)} of {len(units)} recent trainings logged no dataset "
              f"(e.g. {lacking[0]})")  # fmt: skip


def c08(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment: nothing serves a registered version")
    return yes(f"deployment {prod.deployment!r} ({prod.environment}) serves "
               f"{prod.model}/{prod.version}")  # fmt: skip


def c09(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment")
    found = [v for v in ev.versions_of(prod.model) if v.version == prod.version]
    if not found:
        return no(
            f"deployment {prod.deployment!r} names {prod.model}/{prod.version}, not registered"
        )
    return yes(f"{prod.deployment!r} resolves to registry version {prod.model}/{prod.version}")


def c10(ev: Evidence) -> Outcome:
    if not ev.versions:
        return no("no registered model version")
    orphans = [f"{v.name}/{v.version}" for v in ev.versions if not v.run_id]
    if orphans:
        return no(f"versions without a source run: {', '.join(orphans[:3])}")
    return yes(f"all {len(ev.versions)} versions link to the run that produced them")


def c11(ev: Evidence) -> Outcome:
    if not ev.versions:
        return no("no registered model version")
    evaluated = [v for v in ev.versions if (load_json(v.validation) or {}).get("candidate_metrics")]
    if len(evaluated) == len(ev.versions):
        return yes(f"all {len(ev.versions)} versions carry held-out metrics from the gate")
    return no(f"{len(ev.versions) - len(evaluated)} of {len(ev.versions)} versions have no "
              "held-out metrics")  # fmt: skip


def c12(ev: Evidence) -> Outcome:
    tests = ev.files_matching(r"(^|/)tests?/.*test.*\.py$|(^|/)test_[^/]*\.py$")
    if not tests:
        return no("no test files in the repository")
    if not ev.ci_files:
        return no(f"{len(tests)} test files, but no CI file runs them")
    return yes(f"{len(tests)} test files; CI: {', '.join(ev.ci_files[:2])}")


def c13(ev: Evidence) -> Outcome:
    events = ev.deployment_events
    if not events:
        return no("no recorded deployment")
    anonymous = [e for e in events if not e.actor]
    if anonymous:
        return no(f"{len(anonymous)} deployment events have no actor")
    last = events[-1]
    return yes(f"{len(events)} deployment events with actor and time "
               f"(last: {last.action} of {last.name!r} by {last.actor})")  # fmt: skip


def c14(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment")
    earlier = [v for v in ev.versions_of(prod.model) if v.version < prod.version]
    if not earlier:
        return no(f"{prod.model} has no version before {prod.version} to roll back to")
    previous = earlier[-1]
    files = load_json(previous.files) or {}
    missing = [path for path, sha in files.items() if not ev.artifact_present(sha)]
    if missing:
        return no(f"{prod.model}/{previous.version} lost files: {', '.join(missing[:2])}")
    return yes(f"{prod.model}/{previous.version} is kept, every file present: "
               f"`mlstage deploy ... --rollback` works")  # fmt: skip


def c15(ev: Evidence) -> Outcome:
    results = ev.count("monitor_results", "monitor LIKE :m", m="%service%")
    rules = ev.alert_rules()
    if results and rules:
        return yes(f"service health monitored ({results} results); alert rules: {', '.join(rules)}")
    if results:
        return no("service health is monitored, but no alert rule is declared (monitoring.yaml)")
    return no("no service-health monitor results")


def c16(ev: Evidence) -> Outcome:
    prod = ev.production
    candidates = ev.versions_of(prod.model) if prod else ev.versions
    for v in reversed(candidates):
        card = load_json(v.card) or {}
        if card.get("intended_use") and card.get("limitations"):
            return yes(f"{v.name}/{v.version} has a card with intended use and limitations")
    return no("no model card with intended use and limitations")


# -- stage 2 -----------------------------------------------------------------------------


def c19(ev: Evidence) -> Outcome:
    done = ev.succeeded_pipeline_runs()
    if done:
        run = done[0]
        return yes(f"pipeline {run.pipeline!r} ran end to end (run {run.run_id}, {run.executor})")
    return no("no pipeline run has succeeded")


def c20(ev: Evidence) -> Outcome:
    done = ev.succeeded_pipeline_runs()
    by_pipeline: dict[str, set[str]] = {}
    executors: dict[str, set[str]] = {}
    for run in done:
        by_pipeline.setdefault(run.pipeline, set()).add(run.spec_hash)
        executors.setdefault(run.pipeline, set()).add(run.executor)
    for name, hashes in by_pipeline.items():
        if len(hashes) == 1 and len(executors[name]) > 1:
            return yes(f"pipeline {name!r}: one definition on {', '.join(sorted(executors[name]))}")
    if done:
        return no("no pipeline definition has run unchanged on more than one executor")
    return no("no pipeline run has succeeded")


def c21(ev: Evidence) -> Outcome:
    for run in ev.succeeded_pipeline_runs()[:20]:
        for step, function, _status in ev.step_names(run.run_id):
            if "validat" in step.lower() and "data" in (step + function).lower():
                return yes(f"step {step!r} validated the data in pipeline run {run.run_id}")
    return no("no pipeline run has a data validation step")


def c22(ev: Evidence) -> Outcome:
    schemas = ev.files_matching(r"(^|/)[^/]*schema[^/]*\.ya?ml$")
    if schemas:
        return yes(f"schema kept in git: {', '.join(schemas[:2])}")
    return no("no schema file (*.schema.yaml) tracked by git")


def c23(ev: Evidence) -> Outcome:
    promotions = [h for h in ev.model_history if h.action == "alias_set" and h.alias == "champion"]
    if not promotions:
        return no("no version was promoted to champion")
    gated = []
    for h in promotions:
        found = [v for v in ev.versions_of(h.name) if v.version == h.version]
        verdict = load_json(found[0].validation) if found else None
        if verdict and verdict.get("passed"):
            gated.append(h)
    if len(gated) == len(promotions):
        last = gated[-1]
        return yes(f"all {len(promotions)} promotions passed the gate "
                   f"(last: {last.name}/{last.version})")  # fmt: skip
    return no(f"{len(promotions) - len(gated)} of {len(promotions)} promotions skipped the gate")


def c24(ev: Evidence) -> Outcome:
    for v in reversed(ev.versions):
        verdict = load_json(v.validation) or {}
        if verdict.get("candidate_slices"):
            slices = ", ".join(sorted(verdict["candidate_slices"]))
            return yes(f"{v.name}/{v.version} was evaluated per slice ({slices})")
    return no("no version has slice metrics")


def c25(ev: Evidence) -> Outcome:
    schedules = ev.count("pipeline_schedules", "enabled = :on", on=True)
    triggers = ev.count("triggers")
    if schedules or triggers:
        return yes(f"{schedules} pipeline schedules and {triggers} triggers configured")
    return no("no schedule or trigger starts training")


def c26(ev: Evidence) -> Outcome:
    done = ev.succeeded_pipeline_runs()
    if not done:
        return no("no pipeline run has succeeded")
    run = done[0]
    if run.end_time and run.executor and run.spec_hash:
        return yes(f"run {run.run_id} recorded definition {run.spec_hash[:12]}, executor "
                   f"{run.executor}, params and times, with its step outputs")  # fmt: skip
    return no(f"pipeline run {run.run_id} lacks times or executor")


def c27(ev: Evidence) -> Outcome:
    ci = ev.ci_text()
    if ci and ("pytest" in ci or "make test" in ci):
        return yes(f"CI runs the tests ({', '.join(ev.ci_files[:2])})")
    return no("no CI file runs the tests (`mlstage init --ci github|gitlab` writes one)")


def c28(ev: Evidence) -> Outcome:
    if "mlstage ci" in ev.ci_text():
        return yes("CI runs `mlstage ci`")
    return no("CI does not run `mlstage ci`")


def c29(ev: Evidence) -> Outcome:
    infra = ev.files_matching(r"(^|/)(Dockerfile|.*\.tf|k8s/.*\.ya?ml|deploy/.*\.ya?ml)$")
    if infra:
        return yes(f"environments as code: {', '.join(infra[:3])}")
    return no("no Dockerfile or manifests in the repository (`mlstage build --target k8s`)")


def c30(ev: Evidence) -> Outcome:
    staging = [e for e in ev.deployment_events if e.environment == "staging"]
    prod = [e for e in ev.deployment_events if e.environment == "prod"]
    if not staging or not prod:
        return no("needs deployments to both staging and prod")
    unapproved = [e for e in prod if e.action in ("created", "updated", "promote") and not e.reason]
    if unapproved:
        return no(f"{len(unapproved)} production changes carry no recorded approval (reason)")
    return yes(f"{len(staging)} staging deployments; every production change has a reason")


def c31(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment")
    tags = _version_tags(ev, prod.model, prod.version)
    tests = {x.strip() for x in tags.get(TEST_TAG, "").split(",") if x.strip()}
    if {"contract", "load"} <= tests:
        return yes(f"{prod.model}/{prod.version} passed contract and load tests ({TEST_TAG})")
    return no(f"{prod.model}/{prod.version} has no record of contract and load tests "
              f"(tag {TEST_TAG}=contract,load)")  # fmt: skip


def c32(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment")
    files = ev.prediction_log_files(prod.model)
    if files:
        return yes(f"{files} request-log files for {prod.model}")
    return no(f"no logged predictions for {prod.model}")


def c33(ev: Evidence) -> Outcome:
    return _recent_monitor(ev, "drift", "feature drift")


def c34(ev: Evidence) -> Outcome:
    # a feature-drift monitor compares serving inputs with the training reference: skew
    return _recent_monitor(ev, "drift", "training-serving skew (feature drift)")


def c35(ev: Evidence) -> Outcome:
    rules = ev.alert_rules()
    if rules:
        return yes(f"alert rules {', '.join(rules)} send to a webhook or e-mail")
    return no("no alert rule routes to an owner (monitoring.yaml alerts)")


def c36(ev: Evidence) -> Outcome:
    if ev.secret_findings:
        return no(f"secret-like strings in {', '.join(ev.secret_findings[:3])}")
    admin_tokens = ev.count("api_tokens", "scope = 'admin' AND revoked_at IS NULL")
    if admin_tokens > 2:
        return no(f"{admin_tokens} live admin-scoped tokens: give programs read or write tokens")
    return yes("no secrets in tracked files; tokens are scoped")


def c37(ev: Evidence) -> Outcome:
    views = ev.count("feature_views")
    if views:
        return yes(f"{views} feature views registered (offline and online from one definition)")
    return no("no feature views (`mlstage features apply`)")


# -- stage 3 -----------------------------------------------------------------------------


def c39(ev: Evidence) -> Outcome:
    fired = ev.count("trigger_fires", "cause IN ('drift', 'performance')")
    if fired:
        return yes(f"{fired} retraining runs started by drift or performance")
    return no("no pipeline run was triggered by drift or performance")


def c40(ev: Evidence) -> Outcome:
    automated = [
        h for h in ev.model_history
        if h.action == "alias_set" and h.alias == "champion" and "policy" in (h.reason or "")
    ]  # fmt: skip
    if automated:
        return yes(f"{len(automated)} promotions by policy, each in the model history")
    return no("no promotion made by a declared policy")


def c41(ev: Evidence) -> Outcome:
    staged = [
        e for e in ev.deployment_events
        if (load_json(e.after) or {}).get("strategy") in ("canary", "shadow", "ab")
    ]  # fmt: skip
    if staged:
        strategy = (load_json(staged[-1].after) or {}).get("strategy")
        return yes(f"{len(staged)} releases went through {strategy} first ({staged[-1].name!r})")
    return no("no release used canary, shadow or A/B")


def c42(ev: Evidence) -> Outcome:
    labels = ev.count("feedback")
    perf = ev.table_rows("monitor_results", "monitor", "monitor LIKE :m", m="%performance%")
    if labels and perf:
        return yes(f"{labels} labels joined; {len(perf)} live performance results")
    return no("no ground truth joined to predictions with a performance monitor")


def c43(ev: Evidence) -> Outcome:
    return _recent_monitor(ev, "staleness", "model staleness")


def c44(ev: Evidence) -> Outcome:
    prod = ev.production
    if prod is None:
        return no("no deployment to trace")
    found = [v for v in ev.versions_of(prod.model) if v.version == prod.version]
    if not found or not found[0].run_id:
        return no(f"{prod.model}/{prod.version} has no source run")
    run_id = found[0].run_id
    from mlstage.store import tables as t

    r = t.runs.c
    rows = ev.rows(
        t.runs.select().with_only_columns(r.git_commit, r.packages).where(r.run_id == run_id)
    )
    has_data = bool(ev.run_ids_with(t.run_inputs, [run_id]))
    if rows and rows[0].git_commit and has_data and json.loads(rows[0].packages or "{}"):
        return yes(f"{prod.deployment!r} -> {prod.model}/{prod.version} -> run {run_id} -> "
                   f"data, commit {rows[0].git_commit[:12]}, packages")  # fmt: skip
    return no(f"run {run_id} of {prod.model}/{prod.version} lacks data inputs, commit or packages")


def c45(ev: Evidence) -> Outcome:
    ci = ev.ci_text()
    if "mlstage pipelines" in ci or "mlstage deploy" in ci:
        return yes("CI runs or deploys the pipeline")
    return no("CI does not run or deploy the pipeline")


def c46(ev: Evidence) -> Outcome:
    events = [e for e in ev.deployment_events if e.action != "load_failed"]
    if len(events) < 2:
        return no("fewer than two deployment events: no delivery metrics yet")
    span_days = max(1.0, (events[-1].at - events[0].at) / DAY_MS)
    rollbacks = sum(1 for e in events if e.action == "rollback")
    return yes(f"{len(events)} deployments over {span_days:.0f} days "
               f"({len(events) / span_days:.2f}/day), change failure rate "
               f"{rollbacks / len(events):.0%}")  # fmt: skip


def c48(ev: Evidence) -> Outcome:
    sensitive = ev.project.get("sensitive_attributes") or []
    if not sensitive:
        return no("no sensitive attributes declared in mlstage.toml [project]")
    for v in reversed(ev.versions):
        slices = set((load_json(v.validation) or {}).get("candidate_slices") or {})
        if slices & set(sensitive):
            return yes(
                f"{v.name}/{v.version} evaluated on {', '.join(sorted(slices & set(sensitive)))}"
            )
    return no(f"no version evaluated on the slices {', '.join(sensitive)}")


def c50(ev: Evidence) -> Outcome:
    refusals = ev.count("audit_log", "action LIKE 'policy.%'")
    environments = ev.count("environments")
    if environments and refusals:
        return yes(f"{environments} environments with classifications; {refusals} audited refusals")
    return no("no environments with data classifications are configured")


def _recent_monitor(ev: Evidence, kind: str, label: str) -> Outcome:
    rows = ev.table_rows(
        "monitor_results",
        "monitor, window_end",
        "monitor LIKE :m AND window_end >= :since",
        m=f"%{kind}%",
        since=ev.now - 14 * DAY_MS,
    )
    if rows:
        return yes(f"{len(rows)} {label} results in the last 14 days")
    return no(f"no {label} monitor results in the last 14 days")


def _version_tags(ev: Evidence, model: str, version: int) -> dict[str, str]:
    from mlstage.store import tables as t

    m, tg = t.registered_models.c, t.model_version_tags.c
    rows = ev.rows(
        t.model_version_tags.select()
        .with_only_columns(tg.key, tg.value)
        .join(t.registered_models, m.model_id == tg.model_id)
        .where(m.name == model, tg.version == version)
    )
    return {row.key: row.value for row in rows}


PERSON_CHECKS = frozenset({"C17", "C18", "C38", "C49"})
"""Checks only a person can answer (``mlstage assess --answer``)."""


def _c(
    id: str,
    stage: int,
    dimension: str,
    question: str,
    next_step: str,
    evaluate: Evaluator | None = None,
    keystone: bool = False,
) -> Check:
    how = "person" if id in PERSON_CHECKS else "auto"
    return Check(id, stage, dimension, question, keystone, how, next_step, evaluate)


ANSWER = "mlstage assess --answer {id}=yes --note '...'"
CHECKS: tuple[Check, ...] = (
    _c("C01", 0, "People", "the project names an accountable owner",
       "add owner = \"name\" under [project] in mlstage.toml", c01),
    _c("C02", 0, "Process", "the use case records its objective and success metric",
       "add objective and success_metric under [project] in mlstage.toml", c02),
    _c("C03", 0, "Technology", "training code is in a git repository",
       "git init && git add . && git commit, then train again", c03),
    _c("C04", 1, "Technology", "training runs from a script or pipeline, not only notebooks",
       "move training into train.py (or `mlstage init --template training`)", c04),
    _c("C05", 1, "Technology", "the environment is pinned (lock file hash recorded per run)",
       "keep a lock file (uv lock / pip-compile to requirements.lock) in the project root", c05),
    _c("C06", 1, "Process", "every training run records params, metrics and the git commit",
       "log params and metrics in every run, from a git checkout", c06, keystone=True),
    _c("C07", 1, "Process", "every training run records its dataset versions",
       "call mlstage.log_input(df, name=...) in every training run", c07),
    _c("C08", 1, "Technology", "the production model is a registered version",
       "mlstage deploy MODEL --env prod --version N", c08, keystone=True),
    _c("C09", 1, "Technology", "the service serves a registry alias or version, not a file",
       "mlstage serve --deployment NAME (or MODEL@champion)", c09),
    _c("C10", 1, "Process", "every version links to the run that produced it",
       "register versions from runs: mlstage.register_model('runs:/<id>/model', NAME)", c10),
    _c("C11", 1, "Process", "held-out test metrics are stored with each registered version",
       "mlstage models validate MODEL/N --data holdout.parquet --target y", c11),
    _c("C12", 1, "Technology", "the prediction code has automated tests that CI runs",
       "add tests/ and a CI file: mlstage init --ci github|gitlab", c12),
    _c("C13", 1, "Process", "deployments are recorded with actor, time and version",
       "deploy with `mlstage deploy` (it records who, when, which version)", c13, keystone=True),
    _c("C14", 1, "Technology", "the previous version is kept and can be redeployed",
       "register a second version; `mlstage deploy NAME --rollback` returns to the first",
       c14, keystone=True),
    _c("C15", 1, "Technology", "service health (latency, errors) is monitored with an alert",
       "declare a service monitor and an alert rule for the deployment", c15),
    _c("C16", 1, "Process", "a model card documents intended use and limitations",
       "mlstage models card MODEL/N --set intended_use=... --set limitations=...", c16),
    _c("C17", 1, "People", "at least two people can train and deploy", ANSWER.format(id="C17")),
    _c("C18", 1, "People", "engineers help turn notebook code into repeatable jobs",
       ANSWER.format(id="C18")),
    _c("C19", 2, "Technology", "a training pipeline defined as code ran end to end",
       "mlstage pipelines run pipeline.py:training", c19, keystone=True),
    _c("C20", 2, "Process", "the same pipeline definition runs in every environment",
       "run the unchanged pipeline with --executor processes and dask as well as local", c20),
    _c("C21", 2, "Process", "data validation runs in the pipeline and can halt it",
       "add the validate-data step (mlstage init --template training wires it)", c21,
       keystone=True),
    _c("C22", 2, "Process", "the data schema is versioned in the repository",
       "mlstage data schema infer data.parquet --output data.schema.yaml && git add it", c22),
    _c("C23", 2, "Process", "a validation gate compares candidate and champion before promotion",
       "mlstage models validate MODEL/N ... --champion MODEL@champion, then promote", c23,
       keystone=True),
    _c("C24", 2, "Process", "slice-level evaluation is recorded",
       "validate with --slice-threshold SLICE:METRIC:min=...", c24),
    _c("C25", 2, "Technology", "a retraining trigger is configured",
       "mlstage pipelines schedule pipeline.py:training --cron '0 2 * * *'", c25, keystone=True),
    _c("C26", 2, "Technology", "pipeline runs record version, times, executor, params, outputs",
       "run training through mlstage pipelines", c26),
    _c("C27", 2, "Technology", "CI runs unit tests for feature and model code",
       "mlstage init --ci github|gitlab", c27),
    _c("C28", 2, "Technology", "CI runs a training smoke test (mlstage ci)",
       "add `mlstage ci` to the CI file (mlstage init --ci writes it)", c28),
    _c("C29", 2, "Technology", "infrastructure and environments are defined as code",
       "mlstage build MODEL@champion --target k8s and commit the files", c29),
    _c("C30", 2, "Process", "staging deploys are automatic; production needs a recorded approval",
       "deploy to staging from CI; promote to prod with --reason naming the approval", c30),
    _c("C31", 2, "Process", "the service passed a contract and load test before production",
       f"run the tests, then tag the version: {TEST_TAG}=contract,load", c31),
    _c("C32", 2, "Technology", "prediction logging is on for the production deployment",
       "serve with the request log on (the default)", c32),
    _c("C33", 2, "Technology", "drift monitoring is active on the production deployment",
       "mlstage monitor check DEPLOYMENT (and let the scheduler run it)", c33, keystone=True),
    _c("C34", 2, "Process", "training-serving skew is checked for the current version",
       "declare a skew monitor against the training dataset", c34),
    _c("C35", 2, "People", "alerts reach a named owner or channel",
       "add an alert rule with a webhook or e-mail of the owner", c35),
    _c("C36", 2, "Technology", "no secrets in code; least-privilege tokens",
       "remove secrets from tracked files; use read/write tokens for programs", c36),
    _c("C37", 2, "Technology", "feature logic is shared by training and serving",
       "define feature views and `mlstage features apply`", c37),
    _c("C38", 2, "People", "data science, ML engineering and data engineering roles are assigned",
       ANSWER.format(id="C38")),
    _c("C39", 3, "Process", "production signals trigger retraining automatically",
       "add a drift or performance trigger to the training pipeline", c39, keystone=True),
    _c("C40", 3, "Process", "promotion is policy-based and automated, with an audit trail",
       "declare a promotion policy on the deployment (canary window, thresholds)", c40,
       keystone=True),
    _c("C41", 3, "Technology", "shadow, canary or A/B precedes full traffic",
       "mlstage deploy NAME --strategy canary --candidate MODEL@challenger --weight 10", c41),
    _c("C42", 3, "Process", "ground truth is joined to predictions and live quality computed",
       "send labels (mlstage feedback import) and add a performance monitor", c42),
    _c("C43", 3, "Process", "model and data staleness are monitored with a threshold",
       "add a staleness monitor to the deployment", c43),
    _c("C44", 3, "Technology", "full lineage: deployment -> version -> run -> data + commit",
       "log inputs and train from git so every version traces back", c44, keystone=True),
    _c("C45", 3, "Technology", "the pipeline itself goes through CI/CD",
       "have CI run `mlstage pipelines run` / deploy on merge", c45),
    _c("C46", 3, "Process", "delivery metrics are tracked from the deployment history",
       "deploy through mlstage so frequency and failures are computed", c46),
    _c("C47", 3, "Process", "ML Test Score above 2",
       "pass the data, model, infrastructure and monitoring checks above"),
    _c("C48", 3, "Process", "fairness checks run on slices of sensitive attributes",
       "declare sensitive_attributes in [project] and validate per slice", c48),
    _c("C49", 3, "People", "incidents get a review that changes the pipeline or monitors",
       ANSWER.format(id="C49")),
    _c("C50", 3, "Technology", "environments enforce data classification, PII masked",
       "configure environments with classifications", c50, keystone=True),
)  # fmt: skip
"""Every check, in the checklist's order."""
