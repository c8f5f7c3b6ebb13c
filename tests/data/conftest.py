"""Small random frames at fixed seeds for the statistics, schema, validation and drift tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from mlstage import config


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings resolved afresh (defaults, unless the environment says otherwise), then dropped.

    Not autouse: the datasets tests in this folder set up their own.
    """
    config.set_settings(None)
    yield
    config.set_settings(None)


def make_frame(
    n: int = 2000, seed: int = 0, shift: float = 0.0, cities: tuple = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000 + shift * 15_000, 15_000, n),
            "score": rng.normal(shift, 1.0, n),
            "city": rng.choice(["north", "south", "east"], n, p=list(cities)),
            "member": rng.random(n) < 0.3,
        }
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()
