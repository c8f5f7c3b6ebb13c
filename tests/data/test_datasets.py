"""Versioned datasets: sources, idempotence, addressing, integrity, bad input and lineage.

Every test runs on SQLite and on PostgreSQL (``db``), in a fresh project folder.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlstage
from mlstage import config
from mlstage.data import datasets
from mlstage.data.datasets import SqlSource
from mlstage.errors import Conflict, IntegrityError, InvalidInput, NotFound


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, project: Path) -> str:
    """The project's metadata on each database; artifacts in the project folder."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config.set_settings(config.load_settings(start=project, tracking_uri=url))
    return str(request.param)


def churn(rows: int = 6, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer": list(range(1, rows + 1)),
            "plan": [["basic", "pro", "team"][i % 3] for i in range(rows)],
            "spend": [10.5 * i + shift for i in range(rows)],
            "churned": [i % 2 for i in range(rows)],  # SQLite has no booleans
        }
    )


def sqlite_file(path: Path, frame: pd.DataFrame, table: str = "customers") -> Path:
    with sqlite3.connect(path) as con:
        frame.to_sql(table, con, index=False)
    con.close()
    return path


def blob_path(sha: str) -> Path:
    root = Path(config.get_settings().artifact_root)
    return root / "sha256" / sha[:2] / sha[2:4] / sha


# -- sources -----------------------------------------------------------------------------


def test_each_source_kind_becomes_a_snapshot_with_rows_columns_and_source(
    db: str, project: Path
) -> None:
    frame = churn()
    frame.to_csv(project / "churn.csv", index=False)
    frame.to_parquet(project / "churn.parquet", index=False)
    folder = project / "events"
    for plan, part in frame.groupby("plan"):
        (folder / f"plan={plan}").mkdir(parents=True)
        part.drop(columns="plan").to_parquet(folder / f"plan={plan}" / "part-0.parquet")
    (folder / "_SUCCESS").write_text("")
    db_file = sqlite_file(project / "crm.db", frame)

    from_csv = mlstage.datasets.register("churn-csv", "churn.csv", description="export")
    from_parquet = datasets.register("churn-parquet", project / "churn.parquet")
    from_folder = datasets.register("events", str(folder))
    from_sql = datasets.register(
        "churn-sql", SqlSource(f"sqlite:///{db_file}", "SELECT * FROM customers ORDER BY customer")
    )
    from_frame = datasets.register("churn-frame", frame, tags={"team": "risk"})

    assert [v.source.kind for v in (from_csv, from_parquet, from_folder, from_sql, from_frame)] == [
        "csv", "parquet", "parquet-folder", "sql", "dataframe"
    ]  # fmt: skip
    assert from_csv.source.location == str(project / "churn.csv")
    assert from_folder.source.files == 3
    assert from_sql.source.location == f"sqlite:///{db_file}"
    assert from_sql.source.query.startswith("SELECT * FROM customers")
    assert from_frame.tags == {"team": "risk"} and from_csv.description == "export"
    for version in (from_csv, from_parquet, from_sql, from_frame):
        assert (version.version, version.num_rows, version.num_columns) == (1, 6, 4)
        assert [(c.name, c.type) for c in version.columns] == [
            ("customer", "int64"), ("plan", "string"), ("spend", "double"), ("churned", "int64")
        ]  # fmt: skip
        pd.testing.assert_frame_equal(datasets.load(version.ref), frame, check_dtype=False)
        assert blob_path(version.snapshot_sha256).is_file()
    # The same typed rows are the same content, whichever source they came from.
    assert len({v.digest for v in (from_csv, from_parquet, from_sql, from_frame)}) == 1
    # Hive-style folders become a column; files are read in path order.
    events = datasets.load("events")
    assert sorted(events.columns) == ["churned", "customer", "plan", "spend"]
    assert events["plan"].astype(str).tolist() == ["basic", "basic", "pro", "pro", "team", "team"]
    assert from_folder.num_rows == 6
    stats = datasets.statistics("churn-csv@1")
    assert stats is not None and stats.num_rows == 6
    assert stats.features["spend"].max == 52.5 and stats.features["plan"].unique == 3
    # An unnamed pandas index is not data; a named one is a column.
    filtered = datasets.register("filtered", frame[frame["spend"] > 20])
    assert [c.name for c in filtered.columns] == ["customer", "plan", "spend", "churned"]
    indexed = datasets.register("indexed", frame.set_index("customer"))
    assert sorted(c.name for c in indexed.columns) == ["churned", "customer", "plan", "spend"]


def test_registering_the_same_content_again_returns_its_version(db: str, project: Path) -> None:
    churn().to_csv(project / "v1.csv", index=False)
    churn(shift=1.0).to_csv(project / "v2.csv", index=False)
    first = datasets.register("churn", "v1.csv")
    again, created = datasets.register_or_get("churn", project / "v1.csv")
    assert created is False and again == first
    second = datasets.register("churn", "v2.csv")
    back = datasets.register("churn", churn())  # v1's rows, from a DataFrame
    assert (first.version, second.version, back.version) == (1, 2, 1)
    assert [v.version for v in datasets.list_versions("churn")] == [1, 2]
    assert datasets.get("churn@latest").version == 2
    [summary] = datasets.list_datasets()
    assert (summary.name, summary.num_versions, summary.latest and summary.latest.version) == (
        "churn", 2, 2
    )  # fmt: skip


def test_changing_one_value_or_one_type_gives_a_new_digest(db: str) -> None:
    base = datasets.register("churn", churn())
    edited = churn()
    edited.loc[3, "spend"] = 0.25
    retyped = churn().astype({"customer": "int32"})
    reordered = churn().iloc[::-1].reset_index(drop=True)
    digests = {base.digest}
    for frame in (edited, retyped, reordered):
        digests.add(datasets.register("churn", frame).digest)
    assert len(digests) == 4
    assert [v.version for v in datasets.list_versions("churn")] == [1, 2, 3, 4]


def test_nested_decimal_time_and_categorical_columns_are_versioned_too(db: str) -> None:
    import datetime as dt
    import decimal

    table = pa.table(
        {
            "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None]),
            "amount": pa.array([decimal.Decimal("1.10"), None]),
            "items": pa.array([[1, 2], None]),
            "meta": pa.array([{"x": 1}, None]),
        }
    )
    version = datasets.register("orders", table)
    assert [c.type for c in version.columns] == [
        "timestamp[us, tz=UTC]", "decimal128(3, 2)", "list<item: int64>", "struct<x: int64>"
    ]  # fmt: skip
    assert datasets.register("orders", table).version == 1
    changed = table.set_column(2, "items", pa.array([[1, 3], None]))
    assert datasets.register("orders", changed).version == 2
    assert datasets.load("orders@1")["items"][0].tolist() == [1, 2]
    categorical = pd.DataFrame({"plan": pd.Categorical(["basic", "pro", "basic"])})
    [column] = datasets.register("plans", categorical).columns
    assert column.type == "dictionary<values=string, indices=int8, ordered=0>"


def test_concurrent_registrations_keep_versions_dense_and_content_unique(db: str) -> None:
    frames = [churn(shift=float(i)) for i in range(3)] * 2
    results: list[int] = []
    errors: list[BaseException] = []

    def register(frame: pd.DataFrame) -> None:
        try:
            results.append(datasets.register("churn", frame).version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(f,)) for f in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = datasets.list_versions("churn")
    assert [v.version for v in versions] == [1, 2, 3]
    assert len({v.digest for v in versions}) == 3
    assert sorted(results) == [1, 1, 2, 2, 3, 3]


# -- addressing --------------------------------------------------------------------------


def test_versions_are_addressed_by_number_latest_and_digest_prefix(db: str) -> None:
    v1 = datasets.register("churn", churn())
    v2 = datasets.register("churn", churn(shift=2.0))
    assert datasets.get("churn").version == datasets.get("churn@latest").version == 2
    assert datasets.get("churn@1") == v1
    assert datasets.get(f"churn@{v2.digest[:8]}") == v2
    assert datasets.get(f"churn@{v1.digest.upper()}") == v1
    assert datasets.get(v2) is v2
    assert v2.ref == "churn@2"
    with pytest.raises(NotFound, match=r"dataset 'churn' has no version 3 \(versions 1 to 2\)"):
        datasets.get("churn@3")
    with pytest.raises(NotFound, match="dataset 'churn' has no version whose digest starts 0000"):
        datasets.get("churn@00000000")
    with pytest.raises(NotFound, match="dataset 'nope' does not exist"):
        datasets.load("nope@1")
    with pytest.raises(NotFound, match="dataset 'Churn' does not exist; did you mean 'churn'"):
        datasets.get("Churn@1")
    for bad in ("churn@0", "churn@abc", "churn@v2", "churn@1234567z"):
        with pytest.raises(InvalidInput, match="dataset"):
            datasets.get(bad)


def test_load_checks_the_snapshot_hash_and_refuses_a_tampered_one(db: str) -> None:
    version = datasets.register("churn", churn())
    assert datasets.load("churn@1", columns=["spend", "plan"]).columns.tolist() == [
        "spend",
        "plan",
    ]
    with pytest.raises(InvalidInput, match=r"columns \['salary'\] are not in dataset churn@1"):
        datasets.load("churn@1", columns=["salary"])
    blob = blob_path(version.snapshot_sha256)
    altered = churn(shift=100.0)
    pq.write_table(pa.Table.from_pandas(altered, preserve_index=False), blob)
    with pytest.raises(IntegrityError, match="dataset churn@1: its snapshot was altered"):
        datasets.load("churn@1")
    blob.unlink()
    with pytest.raises(NotFound, match="dataset churn@1: its snapshot is missing"):
        datasets.load(version)


# -- bad input ---------------------------------------------------------------------------


BAD_NAMES = [
    ("", "dataset name must not be empty"),
    ("churn/2024", "dataset name 'churn/2024' may only contain"),
    ("../churn", "dataset name '../churn' may only contain"),
    ("churn..v2", "no '..'"),
    ("churn\u2010v2", "may only contain ASCII"),
    ("churn@2", "may only contain"),
    ("c" * 101, "is 101 characters; the limit is 100"),
]


def test_bad_names_are_refused_before_anything_is_read(db: str) -> None:
    for name, problem in BAD_NAMES:
        with pytest.raises(InvalidInput, match=problem):
            datasets.register(name, "does-not-matter.csv")
    with pytest.raises(InvalidInput, match="dataset name must be a string, got int"):
        datasets.register(7, churn())  # type: ignore[arg-type]
    assert datasets.list_datasets() == []


def test_bad_paths_and_queries_are_refused_and_write_nothing(db: str, project: Path) -> None:
    (project / "notes.txt").write_text("a,b\n1,2\n")
    (project / "empty").mkdir()
    (project / "empty" / "data.csv").write_text("a\n1\n")
    (project / "broken.parquet").write_bytes(b"not parquet at all")
    db_file = sqlite_file(project / "crm.db", churn())
    cases: list[tuple[object, str]] = [
        ("missing.csv", "source 'missing.csv': no such file or folder"),
        ("notes.txt", "source 'notes.txt': unsupported file type; use one of .csv"),
        ("empty", "holds no Parquet files"),
        ("broken.parquet", "source 'broken.parquet' is not a readable Parquet file"),
        (42, "source must be a path to a CSV file"),
        (SqlSource("sqlite:///nowhere.db", "SELECT 1"), "no such SQLite file 'nowhere.db'"),
        (SqlSource(f"sqlite:///{db_file}", "SELECT * FROM nope"), "SqlSource query failed"),
        (SqlSource(f"sqlite:///{db_file}", "DELETE FROM customers"), "SqlSource query failed"),
        (SqlSource("not a url", "SELECT 1"), "is not a SQLAlchemy URL"),
    ]
    for source, problem in cases:
        with pytest.raises(InvalidInput, match=problem):
            datasets.register("churn", source)
    with pytest.raises(InvalidInput, match="SqlSource query must be a non-empty SQL string"):
        SqlSource("sqlite:///crm.db", " ")
    assert not (project / "nowhere.db").exists()  # SQLite did not create it
    with sqlite3.connect(db_file) as con:  # the DELETE changed nothing
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (6,)
    con.close()
    assert datasets.list_datasets() == []


def test_sql_urls_are_recorded_without_their_password(db: str, postgres_available: str) -> None:
    url = postgres_available.replace("postgres@", "postgres:s3cret@")
    version = datasets.register("numbers", SqlSource(url, "SELECT 1 AS one, 'a' AS letter"))
    assert "s3cret" not in version.source.location and "***" in version.source.location
    assert datasets.load(version).to_dict("list") == {"one": [1], "letter": ["a"]}


def test_a_name_differing_only_in_case_is_refused_and_adds_nothing(db: str) -> None:
    datasets.register("churn", churn())
    with pytest.raises(Conflict, match="clashes with the registered dataset 'churn'"):
        datasets.register("Churn", churn(shift=5.0))
    assert [v.version for v in datasets.list_versions("churn")] == [1]
    with pytest.raises(InvalidInput, match="description must be a string"):
        datasets.register("churn", churn(shift=5.0), description=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="source has duplicate column names: a"):
        datasets.register("churn", pa.table([[1], [2]], names=["a", "a"]))
    assert [v.version for v in datasets.list_versions("churn")] == [1]


def test_a_server_tracking_uri_is_refused_with_what_to_set(project: Path) -> None:
    config.set_settings(config.load_settings(start=project, tracking_uri="http://127.0.0.1:9"))
    with pytest.raises(InvalidInput, match="set MLSTAGE_TRACKING_URI to its sqlite:///"):
        datasets.list_datasets()


# -- lineage -----------------------------------------------------------------------------


def test_lineage_goes_from_a_version_to_its_runs_and_their_models(db: str) -> None:
    from sklearn.linear_model import LogisticRegression

    v1 = datasets.register("churn", churn())
    v2 = datasets.register("churn", churn(shift=3.0))
    frame = datasets.load(v1)
    X, y = frame[["customer", "spend"]], frame["churned"]
    mlstage.set_experiment("churn-models")
    with mlstage.start_run(name="train") as run:
        logged = mlstage.log_input(v1)
        mlstage.log_input("churn@2", context="validation")
        info = mlstage.log_model(LogisticRegression().fit(X, y), "model", input_example=X.head(2))
    with mlstage.start_run(name="other"):
        mlstage.log_input(frame, name="churn")  # raw data: not the registered version
    model = mlstage.register_model(info.model_uri, "churn-model")

    assert logged.dataset.digest == v1.digest and logged.dataset.name == "churn"
    assert logged.dataset.source == "dataset churn@1"
    assert [d.digest for d in info.manifest.datasets] == [v1.digest, v2.digest]
    lineage = datasets.lineage("churn@1")
    assert [(r.run_id, r.run_name, r.context, r.experiment_name) for r in lineage.runs] == [
        (run.run_id, "train", "training", "churn-models")
    ]
    assert [(m.name, m.version, m.run_id) for m in lineage.models] == [
        ("churn-model", model.version, run.run_id)
    ]
    assert [r.context for r in datasets.lineage(v2).runs] == ["validation"]
    v3 = datasets.register("churn", churn(shift=9.0))
    assert datasets.lineage(v3).runs == [] and datasets.lineage(v3).models == []


def test_log_input_of_a_version_checks_its_name(db: str) -> None:
    v1 = datasets.register("churn", churn())
    with mlstage.start_run():
        with pytest.raises(InvalidInput, match="differs from the dataset version's name 'churn'"):
            mlstage.log_input(v1, name="other")
        with pytest.raises(InvalidInput, match="log_input needs name="):
            mlstage.log_input(churn())
        with pytest.raises(NotFound, match="dataset 'churn' has no version 7"):
            mlstage.log_input("churn@7")


# -- diff --------------------------------------------------------------------------------


def test_diff_names_added_removed_and_retyped_columns_and_the_row_change(db: str) -> None:
    datasets.register("churn", churn())
    changed = (
        churn(rows=9)
        .drop(columns="churned")
        .assign(customer=lambda f: f["customer"].astype("float64"), region="eu")
    )
    datasets.register("churn", changed)
    result = datasets.diff("churn@1", "churn@2")
    assert [(c.name, c.type) for c in result.added] == [("region", "string")]
    assert [(c.name, c.type) for c in result.removed] == [("churned", "int64")]
    assert [(c.name, c.before, c.after) for c in result.retyped] == [
        ("customer", "int64", "double")
    ]
    assert (result.rows_before, result.rows_after, result.rows_change) == (6, 9, 3)
    assert result.same_content is False
    same = datasets.diff("churn@1", "churn@1")
    assert same.same_content and same.drift is None and same.added == same.removed == []
