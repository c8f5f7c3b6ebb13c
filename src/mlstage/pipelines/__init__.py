"""Pipelines: ``@step`` and ``@pipeline``, caching, executors (local, processes, Dask), schedules.

    from mlstage import step, pipeline

    @step(cache=True, retries=2)
    def train(df: pd.DataFrame, C: float = 1.0) -> LogisticRegression: ...

    @pipeline(schedule="0 2 * * *")
    def training(path: str = "data/churn.parquet"):
        model = train(load(path))

    run = training.run(executor="local")     # or "processes", "dask", "tcp://scheduler:8786"

Extension points for what comes next: standard steps are ordinary ``@step``
functions (a ``steps`` module beside this one); new executors subclass
``executors.base.Executor`` and register a name in ``executors.make_executor``.
"""

from __future__ import annotations

from mlstage.pipelines.dsl import Pipeline, Step, pipeline, step

__all__ = ["Pipeline", "Step", "pipeline", "step"]
