"""Evaluators of the stage 0 and stage 1 checks: inventory, tracking, registry, release."""

from __future__ import annotations

from mlstage.governance.assess.evidence import Evidence, load_json
from mlstage.governance.assess.outcome import Outcome, no, yes
from mlstage.tracking.context import LOCK_FILES, LOCK_TAG

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
