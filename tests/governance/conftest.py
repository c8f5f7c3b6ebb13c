"""A governance store on each database, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlstage.governance.sql_store import GovernanceStore
from mlstage.store.database import Database


class Clock:
    """Milliseconds that move only when a test says so."""

    def __init__(self, now: int = 1_800_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def gov(request: pytest.FixtureRequest, clock: Clock) -> Iterator[GovernanceStore]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    db = Database(url)
    yield GovernanceStore(db, clock=clock)
    db.dispose()
