"""Batch scoring on a Dask cluster: Parquet partitions in, a folder of scored Parquet out.

For data larger than one machine's memory or patience. ``dask.dataframe``
reads the input's partitions, every worker scores its partitions with
``batch.score_chunk`` (the same pure function the local scorer uses, so the
results are identical), and the scored partitions are written next to each
other in a temporary folder that is renamed into place only when all of them
succeeded. Workers load the model themselves, through the registry, with
its recorded hashes checked, once per worker process; so they need the same
metadata database and artifact root as the caller (on a real cluster:
PostgreSQL and S3). ``executor="dask"`` starts a local cluster of worker
processes on 127.0.0.1; ``"tcp://host:8786"`` uses a running scheduler.
"""

from __future__ import annotations

import functools
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.serving.batch import ScoreSummary, score_chunk

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.models.loading import LoadedModel


def score_parquet_on_dask(
    model_uri: str, input_path: str, output_path: str, *, executor: str = "dask"
) -> ScoreSummary:
    """Score a Parquet file or folder on Dask; write ``output_path`` (a folder) atomically."""
    source, target = _check_paths(input_path, output_path)
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise InvalidInput("scoring on Dask needs dask: pip install 'mlstage[dask]'") from exc
    from mlstage.config import get_settings
    from mlstage.models.loading import load_model
    from mlstage.pipelines.executors.cluster import connect

    settings = get_settings()
    model = load_model(model_uri)  # checked here first: a bad URI fails before any cluster
    stores = (settings.tracking_uri, settings.artifact_root, settings.s3_endpoint_url)
    started = time.perf_counter()
    cluster = connect(executor, what="scoring on Dask")
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        frame = dd.read_parquet(str(source))
        offsets = _offsets(frame)
        meta = score_chunk(model, frame.head(1, npartitions=-1), offset=0).iloc[:0]
        # every worker loads the very version resolved here, even if an alias moves meanwhile
        pinned = (
            f"models:/{model.version.name}/{model.version.version}" if model.version else model.uri
        )
        scored = frame.map_partitions(
            _score_partition,
            pinned,
            stores,
            offsets,
            meta=meta,
            align_dataframes=False,
        )
        scored.to_parquet(str(staging), write_index=False)
        rows = offsets[-1]
        staging.rename(target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, InvalidInput):
            raise InvalidInput(
                f"{input_path}: {exc.message}; {output_path} was not written"
            ) from None
        raise
    finally:
        cluster.close()
    return ScoreSummary(
        model_uri=model.uri,
        model_version=getattr(model.version, "version", None),
        input_path=str(source),
        output_path=str(target),
        rows=rows,
        chunks=frame.npartitions,
        seconds=time.perf_counter() - started,
        columns=tuple(str(c) for c in meta.columns),
    )


def _check_paths(input_path: str, output_path: str) -> tuple[Path, Path]:
    source, target = Path(input_path), Path(output_path)
    if not source.exists():
        raise InvalidInput(f"input {input_path!r} does not exist")
    if source.is_file() and source.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidInput(f"input {input_path!r}: scoring on Dask reads Parquet (.parquet, .pq)")
    if target.exists():
        raise InvalidInput(f"output {output_path!r} exists; give a new folder name")
    if not target.parent.is_dir():
        raise InvalidInput(f"output folder {str(target.parent)!r} does not exist; create it first")
    return source, target


def _offsets(frame: Any) -> list[int]:
    """The first row number of each partition, then the total (for row numbers in errors)."""
    sizes = frame.map_partitions(len).compute()
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + int(size))
    return offsets


def _score_partition(
    part: pd.DataFrame,
    model_uri: str,
    stores: tuple[str, str, str],
    offsets: list[int],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else 0
    model = _worker_model(model_uri, *stores)
    return score_chunk(model, part.reset_index(drop=True), offset=offsets[number])


@functools.cache
def _worker_model(
    model_uri: str, tracking_uri: str, artifact_root: str, s3_endpoint_url: str
) -> LoadedModel:
    """The model in this worker process, loaded once, from the caller's stores."""
    from mlstage import config
    from mlstage.models.loading import load_model

    current = config.get_settings()
    if (current.tracking_uri, current.artifact_root) != (tracking_uri, artifact_root):
        overrides = {"tracking_uri": tracking_uri, "artifact_root": artifact_root}
        if s3_endpoint_url:
            overrides["s3_endpoint_url"] = s3_endpoint_url
        config.set_settings(current.with_overrides(**overrides))
    return load_model(model_uri)
