"""Evaluators of the stage 2 and stage 3 checks: pipelines, CI/CD, monitoring, automation."""

from __future__ import annotations

import json

from mlstage.governance.assess.evidence import DAY_MS, Evidence, load_json
from mlstage.governance.assess.outcome import Outcome, no, yes

TEST_TAG = "mlstage.release.tests"
"""A version tag listing the release tests it passed, e.g. ``contract,load``."""

# -- stage 2 -----------------------------------------------------------------------------


def c19(ev: Evidence) -> Outcome:
    done = ev.succeeded_pipeline_runs()
    if done:
        run = done[0]
        return yes(f"pipeline {run.pipeline!r} ran end to end (run {run.run_id}, {run.executor})")
    return no("no pipeline run has succeeded")


def c20(ev: Evidence) -> Outcome:
    done = ev.succeeded_pipeline_runs()
    executors: dict[tuple[str, str], set[str]] = {}
    for run in done:  # a definition (its graph's hash) and the executors it succeeded on
        executors.setdefault((run.pipeline, run.spec_hash), set()).add(run.executor)
    for (name, spec), used in executors.items():
        if len(used) > 1:
            return yes(f"pipeline {name!r}: definition {spec[:12]} on {', '.join(sorted(used))}")
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
    triggers = ev.triggers()
    if schedules or triggers:
        named = f" ({', '.join(triggers[:3])})" if triggers else ""
        return yes(f"{schedules} pipeline schedules and {len(triggers)} retraining triggers "
                   f"configured{named}")  # fmt: skip
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
    rows = ev.table_rows("retrainings", "retraining_id, deployment, \"trigger\"",
                         "trigger_kind = :kind", kind="threshold")  # fmt: skip
    if rows:
        last = max(rows, key=lambda row: row.retraining_id)
        return yes(f"{len(rows)} retrainings started by monitored signals (latest: "
                   f"{last.deployment} retraining {last.retraining_id}, trigger "
                   f"{last.trigger!r})")  # fmt: skip
    return no("no retraining was started by a drift or performance trigger")


def c40(ev: Evidence) -> Outcome:
    promoted = ev.table_rows("retraining_events", "retraining_id, deployment, actor",
                             "state = :state", state="promoted")  # fmt: skip
    if promoted:
        last = max(promoted, key=lambda row: row.retraining_id)
        return yes(f"{len(promoted)} promotions decided by the release policy, every step in "
                   f"the retraining history (latest: {last.deployment} retraining "
                   f"{last.retraining_id}, by {last.actor})")  # fmt: skip
    return no("no promotion made by a declared release policy")


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
    has_data = bool(ev.run_ids_with(t.run_inputs, ev.lineage_runs(run_id)))
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
