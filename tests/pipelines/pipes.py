"""Module-level steps and pipelines, importable by worker processes and Dask workers.

Used by the executor, CLI and killed-process tests. Nothing here runs on import
but the definitions (which check the graphs).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mlstage.pipelines import pipeline, step


@step(cache=False)
def make_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": (x[:, 0] > 0).astype(int)})


@step(cache=False)
def features(df: pd.DataFrame) -> np.ndarray:
    return df[["a", "b", "c"]].to_numpy()


@step(cache=False)
def fit(df: pd.DataFrame, C: float) -> LogisticRegression:
    return LogisticRegression(C=C).fit(df[["a", "b", "c"]], df["y"])


@step(cache=False)
def score(model: LogisticRegression, df: pd.DataFrame) -> dict[str, float]:
    return {"accuracy": float(model.score(df[["a", "b", "c"]], df["y"])), "rows": float(len(df))}


@step(cache=False)
def column_means(x: np.ndarray) -> list[float]:
    return [round(float(v), 12) for v in x.mean(axis=0)]


@pipeline
def training(n: int = 200, seed: int = 0, C: float = 1.0):
    df = make_data(n, seed)
    model = fit(df, C=C)
    x = features(df)
    return {"metrics": score(model, df), "means": column_means(x), "model": model}


@step(cache=False)
def burn(i: int, seconds: float) -> int:
    """Busy CPU for ``seconds``: the parallel pipeline's unit of work."""
    end = time.process_time() + seconds
    total = 0
    while time.process_time() < end:
        total += 1
    return i


@pipeline
def parallel(seconds: float = 0.2):
    return [burn(i, seconds) for i in range(4)]
