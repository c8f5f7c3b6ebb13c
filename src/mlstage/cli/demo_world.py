"""The simulated world of ``mlstage demo``'s Stage 2 loop: customers, a market shift, late labels.

Before ``SHIFT_DAY`` customers look like the template's training data
(``init_template.example_churn``). From then on a competitor opens in the
south and courts team plans: new sign-ups are younger, more of them are in
the south and on the team plan, and *why* customers leave changes too (the
south and the team plan now drive churn, where the team plan used to keep
customers). The first is drift a monitor sees in the inputs; the second is
decay only the labels reveal. Every value stays inside the ranges the
model's signature saw in training, so the service accepts each request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstage.cli.init_template import example_churn

if TYPE_CHECKING:
    import pandas as pd

DAY_MS = 86_400_000
SHIFT_DAY = 3
"""The first simulated day of the new market."""
TARGET = "churned"


def customers(rows: int, day: int, seed: int) -> pd.DataFrame:
    """``rows`` customers seen on ``day``, with the truth ``churned`` they will turn out to have."""
    if day < SHIFT_DAY:
        return example_churn(rows, seed=seed)
    return shifted_customers(rows, seed)


def shifted_customers(rows: int, seed: int) -> pd.DataFrame:
    """The market after the shift: a new mix of customers and new reasons to leave."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team"], rows, p=[0.25, 0.25, 0.5])
    tenure = rng.integers(1, 30, rows)
    spend = np.round(rng.normal(60, 20, rows).clip(20, 100), 2)
    calls = rng.poisson(1.5, rows).clip(0, 5)
    region = rng.choice(["north", "south", "east", "west"], rows, p=[0.2, 0.5, 0.15, 0.15])
    score = -0.09 * tenure + 0.45 * calls + 3.3 * (region == "south") + 1.8 * (plan == "team") - 1.8
    churned = (rng.random(rows) < 1 / (1 + np.exp(-score))).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "monthly_spend": spend,
            "support_calls": calls,
            "plan": plan,
            "region": region,
            TARGET: churned,
        }
    )
