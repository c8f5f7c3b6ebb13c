"""Score the checks: the stage reached, pass rates, the next three steps, other frameworks' levels.

The rule (``../shared/maturity-checklist.md``): stage N is reached when every
S0 check passes, at least 80% of the checks of each stage from 1 to N pass,
and the keystone checks of stage N pass. One weak stage caps the result, as
in the ML Test Score. A person's answer counts for 90 days, then is stale.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from mlstage.errors import InvalidInput
from mlstage.governance.assess.checks import CHECKS, PERSON_CHECKS, Check, Outcome
from mlstage.governance.assess.evidence import DAY_MS, Evidence
from mlstage.store import tables as t
from mlstage.store.database import Database

PASS_SHARE = 0.8
STALE_AFTER_DAYS = 90
RULE = (
    "stage N: every S0 check passes, at least 80% of the checks of each stage 1..N pass, "
    "and the keystone checks (*) of stage N pass"
)
ML_TEST_SCORE_SECTIONS = {
    "data": ("C07", "C21", "C22", "C34"),
    "model": ("C11", "C23", "C24", "C48"),
    "infrastructure": ("C12", "C14", "C27", "C28", "C31"),
    "monitoring": ("C15", "C32", "C33", "C42", "C43"),
}
"""Checks standing for the ML Test Score's four sections (C47 needs 3+ in each)."""
MICROSOFT_LEVELS = (
    (1, "DevOps but no MLOps", ("C03", "C12")),
    (2, "Automated training", ("C06", "C08", "C19", "C25")),
    (3, "Automated model deployment", ("C23", "C27", "C41", "C44")),
    (4, "Full MLOps automated operations", ("C33", "C39", "C40", "C43")),
)
GOOGLE_LEVELS = (
    (1, "ML pipeline automation", ("C19", "C21", "C23", "C25", "C26")),
    (2, "CI/CD pipeline automation", ("C27", "C28", "C30", "C45")),
)


@dataclass
class CheckResult:
    id: str
    stage: int
    dimension: str
    question: str
    keystone: bool
    how: str
    passed: bool
    evidence: str
    next_step: str


@dataclass
class Assessment:
    stage: int
    rule: str
    at: int
    checks: list[CheckResult]
    stage_pass_rates: dict[str, float]
    dimension_pass_rates: dict[str, float]
    next_steps: list[dict[str, str]]
    microsoft_level: dict[str, Any]
    google_level: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]


@dataclass(frozen=True)
class Answer:
    check_id: str
    answer: bool
    note: str
    answered_by: str
    answered_at: int


def evaluate(evidence: Evidence, answers: dict[str, Answer]) -> Assessment:
    """Run every check against ``evidence`` and score the result (nothing is stored)."""
    results: dict[str, CheckResult] = {}
    for check in CHECKS:
        if check.id == "C47":
            continue
        outcome = _outcome(check, evidence, answers)
        results[check.id] = _result(check, outcome)
    c47 = next(c for c in CHECKS if c.id == "C47")
    results["C47"] = _result(c47, _ml_test_score(results))
    ordered = [results[c.id] for c in CHECKS]
    stage = _stage(ordered)
    return Assessment(
        stage=stage,
        rule=RULE,
        at=evidence.now,
        checks=ordered,
        stage_pass_rates={f"S{s}": _rate([c for c in ordered if c.stage == s]) for s in range(4)},
        dimension_pass_rates={
            d: _rate([c for c in ordered if c.dimension == d])
            for d in ("People", "Process", "Technology")
        },
        next_steps=_next_steps(ordered, stage),
        microsoft_level=_level(results, MICROSOFT_LEVELS, "Microsoft MLOps maturity"),
        google_level=_level(results, GOOGLE_LEVELS, "Google MLOps"),
    )


def _outcome(check: Check, evidence: Evidence, answers: dict[str, Answer]) -> Outcome:
    if check.id in PERSON_CHECKS:
        found = answers.get(check.id)
        if found is None:
            return Outcome(False, "not answered yet")
        day = time.strftime("%Y-%m-%d", time.gmtime(found.answered_at / 1000))
        said = "yes" if found.answer else "no"
        note = f": {found.note}" if found.note else ""
        if evidence.now - found.answered_at > STALE_AFTER_DAYS * DAY_MS:
            return Outcome(False, f"{said} by {found.answered_by} on {day}, stale after 90 days")
        return Outcome(found.answer, f"{said} by {found.answered_by} on {day}{note}")
    assert check.evaluate is not None
    return check.evaluate(evidence)


def _result(check: Check, outcome: Outcome) -> CheckResult:
    return CheckResult(
        id=check.id,
        stage=check.stage,
        dimension=check.dimension,
        question=check.question,
        keystone=check.keystone,
        how=check.how,
        passed=outcome.passed,
        evidence=outcome.evidence,
        next_step="" if outcome.passed else check.next_step,
    )


def _ml_test_score(results: dict[str, CheckResult]) -> Outcome:
    scores = {
        name: sum(results[i].passed for i in ids) for name, ids in ML_TEST_SCORE_SECTIONS.items()
    }
    low = min(scores, key=lambda name: scores[name])
    shown = ", ".join(f"{name} {score}" for name, score in scores.items())
    if scores[low] > 2:
        return Outcome(True, f"every section above 2 ({shown})")
    return Outcome(False, f"section {low} scores {scores[low]} ({shown})")


def _rate(checks: list[CheckResult]) -> float:
    return round(sum(c.passed for c in checks) / len(checks), 3) if checks else 1.0


def _stage(checks: list[CheckResult]) -> int:
    if not all(c.passed for c in checks if c.stage == 0):
        return 0
    reached = 0
    for stage in (1, 2, 3):
        these = [c for c in checks if c.stage == stage]
        keystones_pass = all(c.passed for c in these if c.keystone)
        if _rate(these) >= PASS_SHARE and keystones_pass:
            reached = stage
        else:
            break
    return reached


def _next_steps(checks: list[CheckResult], stage: int) -> list[dict[str, str]]:
    """Three failing checks, lowest stage first, keystones first within a stage."""
    pending = [c for c in checks if not c.passed and c.stage <= min(stage + 1, 3)]
    pending.sort(key=lambda c: (c.stage, not c.keystone, c.how == "person", c.id))
    return [
        {"id": c.id, "stage": f"S{c.stage}", "check": c.question, "command": c.next_step}
        for c in pending[:3]
    ]


def _level(
    results: dict[str, CheckResult],
    levels: tuple[tuple[int, str, tuple[str, ...]], ...],
    framework: str,
) -> dict[str, Any]:
    reached, name, missing = 0, "", []
    for level, title, ids in levels:
        failing = [i for i in ids if not results[i].passed]
        if failing:
            missing = failing
            break
        reached, name = level, title
    return {"framework": framework, "level": reached, "name": name or "manual", "missing": missing}


# -- storage ------------------------------------------------------------------------------


def load_answers(db: Database) -> dict[str, Answer]:
    with db.read() as conn:
        rows = conn.execute(select(t.assessment_answers)).mappings().all()
    return {row["check_id"]: Answer(**row) for row in rows}


def save_answer(db: Database, check_id: str, answer: bool, note: str, by: str, at: int) -> Answer:
    """Record a person's answer to one of the person checks (replacing an earlier one)."""
    check_id = check_id.strip().upper()
    if check_id not in PERSON_CHECKS:
        raise InvalidInput(
            f"check {check_id!r} is answered from records; only {', '.join(sorted(PERSON_CHECKS))} "
            "take a person's answer"
        )
    if len(note) > 2000:
        raise InvalidInput("an answer's note is at most 2,000 characters")
    found = Answer(check_id, answer, note, by[:250], at)

    def work(conn: Connection) -> None:
        conn.execute(t.assessment_answers.delete().where(a.check_id == check_id))
        conn.execute(insert(t.assessment_answers).values(**asdict(found)))

    a = t.assessment_answers.c
    db.write(work)
    return found


def record(db: Database, assessment: Assessment) -> None:
    """Keep the assessment for the history of stages over time."""
    passed = sum(c.passed for c in assessment.checks)
    report = json.dumps(assessment.to_dict() | {"history": []}, sort_keys=True)

    def work(conn: Connection) -> None:
        conn.execute(
            insert(t.assessments).values(
                at=assessment.at,
                stage=assessment.stage,
                passed=passed,
                total=len(assessment.checks),
                report=report,
            )
        )

    db.write(work)


def history(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    s = t.assessments.c
    with db.read() as conn:
        rows = conn.execute(
            select(s.at, s.stage, s.passed, s.total).order_by(s.at.desc()).limit(limit)
        ).mappings()
        return [dict(row) for row in rows]
