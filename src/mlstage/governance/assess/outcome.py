"""What a maturity check is and what it answers: a question, and passed-or-not with evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlstage.governance.assess.evidence import Evidence


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
