"""What ``log_input`` records of a dataset: a content digest, its size and column schema."""

from __future__ import annotations

import hashlib
from typing import Any

from mlstage.errors import InvalidInput
from mlstage.tracking import validation as v
from mlstage.tracking.entities import ColumnSchema, Dataset


def describe_dataset(data: Any, name: str | None, source: str = "") -> Dataset:
    """Summarise a pandas DataFrame, a NumPy array or a pyarrow Table.

    The digest covers values, index, column names and dtypes, so any change
    to the data gives a new digest, and the same data always the same one.
    A registered dataset version (``DatasetVersion`` or ``"churn@3"``) is
    recorded under its own name and digest, which is how lineage finds it.
    """
    from mlstage.data.dataset_entities import DatasetVersion

    if isinstance(data, str | DatasetVersion):
        from mlstage.data.datasets import run_dataset

        dataset = run_dataset(data)
        if name is not None and name != dataset.name:
            raise InvalidInput(
                f"name {name!r} differs from the dataset version's name {dataset.name!r}; "
                "leave name out when logging a registered dataset"
            )
        return dataset
    if name is None:
        raise InvalidInput("log_input needs name= for a DataFrame, array or table")
    v.check_name(name, "dataset name")
    import numpy as np
    import pandas as pd

    if type(data).__module__.startswith("pyarrow"):
        data = data.to_pandas()
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, np.ndarray):
        array = np.ascontiguousarray(data)
        digest = hashlib.sha256()
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
        columns = 1 if array.ndim == 1 else int(np.prod(array.shape[1:]))
        schema = [ColumnSchema(name=str(i), dtype=str(array.dtype)) for i in range(columns)]
        return Dataset(
            name=name,
            digest=digest.hexdigest(),
            num_rows=int(array.shape[0]) if array.ndim else 1,
            num_columns=columns,
            schema_=schema,
            source=source,
        )
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"log_input takes a pandas DataFrame or Series, a NumPy array or a pyarrow Table; "
            f"got {type(data).__name__}"
        )
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in data.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    schema = [ColumnSchema(name=str(c), dtype=str(t)) for c, t in data.dtypes.items()]
    return Dataset(
        name=name,
        digest=digest.hexdigest(),
        num_rows=len(data),
        num_columns=data.shape[1],
        schema_=schema,
        source=source,
    )
