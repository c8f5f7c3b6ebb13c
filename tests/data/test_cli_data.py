"""``mlstage data ...``: output, files written, and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mlstage.cli.main import app

from .conftest import make_frame

pytestmark = pytest.mark.usefixtures("fresh_settings")

Cli = Callable[..., Result]


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def files(project: Path) -> dict[str, Path]:
    train = make_frame(seed=1)
    train.to_parquet(project / "train.parquet")
    make_frame(seed=2).to_csv(project / "same.csv", index=False)
    shifted = make_frame(seed=3, shift=1.0, cities=(0.2, 0.3, 0.5))
    shifted.loc[0, "age"] = 150
    shifted.to_parquet(project / "shifted.parquet")
    return {
        "train": project / "train.parquet",
        "same": project / "same.csv",
        "shifted": project / "shifted.parquet",
    }


def test_stats_table_and_json(cli: Cli, files: dict[str, Path]) -> None:
    result = cli("data", "stats", str(files["train"]))
    assert result.exit_code == 0, result.output
    assert "2,000 rows" in result.stdout and "income" in result.stdout and "north" in result.stdout
    data = json.loads(cli("data", "stats", str(files["same"]), "--json").stdout)
    assert data["num_rows"] == 2000 and data["features"]["city"]["type"] == "string"


def test_infer_validate_update_loop(cli: Cli, files: dict[str, Path], project: Path) -> None:
    schema = project / "schema.yaml"
    result = cli("data", "schema", "infer", str(files["train"]), "--output", str(schema))
    assert result.exit_code == 0, result.output
    assert "Review it" in result.stderr and schema.read_text().startswith("# mlstage data schema")
    again = cli("data", "schema", "infer", str(files["train"]), "-o", str(schema))
    assert again.exit_code == 2 and "pass --force" in again.stderr

    ok = cli("data", "validate", str(files["same"]), "--schema", str(schema))
    assert ok.exit_code == 0, ok.output
    assert "0 errors, 0 warnings: matches the schema" in ok.stdout

    bad = cli("data", "validate", str(files["shifted"]), "--schema", str(schema))
    assert bad.exit_code == 1
    assert "out_of_range" in bad.stdout and "does not match the schema" in bad.stdout
    data = json.loads(
        cli("data", "validate", str(files["shifted"]), "-s", str(schema), "--json").stdout
    )
    assert data["ok"] is False
    assert [a["category"] for a in data["anomalies"]] == ["out_of_range"]

    declined = cli(
        "data", "schema", "update", str(files["shifted"]), "-s", str(schema), input="n\n"
    )
    assert declined.exit_code == 0 and "Nothing written." in declined.stdout
    assert "max" in declined.stdout and "150" in declined.stdout
    accepted = cli("data", "schema", "update", str(files["shifted"]), "-s", str(schema), "--yes")
    assert accepted.exit_code == 0 and f"Updated {schema}" in accepted.stdout
    assert "max: 150" in schema.read_text()
    assert cli("data", "validate", str(files["shifted"]), "-s", str(schema)).exit_code == 0
    nothing = cli("data", "schema", "update", str(files["shifted"]), "-s", str(schema))
    assert "nothing to update" in nothing.stdout


def test_schema_infer_prints_yaml_without_output(cli: Cli, files: dict[str, Path]) -> None:
    result = cli("data", "schema", "infer", str(files["same"]), "--row-bounds")
    assert result.exit_code == 0
    assert "min_rows: 1000" in result.stdout and "  city:" in result.stdout


def test_drift_table_json_and_html(cli: Cli, files: dict[str, Path], project: Path) -> None:
    same = cli("data", "drift", str(files["train"]), str(files["same"]), "--fail-on-drift")
    assert same.exit_code == 0, same.output
    assert (
        "0 of 5 features over their threshold" in same.stdout and "dataset drift: no" in same.stdout
    )

    page = project / "drift.html"
    shifted = cli("data", "drift", str(files["train"]), str(files["shifted"]), "--html", str(page))
    assert shifted.exit_code == 0
    assert "drifted" in shifted.stdout and f"HTML report: {page}" in shifted.stdout
    html = page.read_text()
    assert "shifted.parquet" in html and html.count("<svg") == 5

    data = json.loads(
        cli("data", "drift", str(files["train"]), str(files["shifted"]), "--json").stdout
    )
    assert sorted(data["drifted_features"]) == ["city", "income", "score"]
    assert data["drifted"] is True

    failed = cli("data", "drift", str(files["train"]), str(files["shifted"]), "--fail-on-drift")
    assert failed.exit_code == 1
    psi = json.loads(
        cli(
            "data", "drift", str(files["train"]), str(files["shifted"]), "-m", "psi", "--json"
        ).stdout
    )
    assert {f["method"] for f in psi["features"].values()} == {"psi"}


def test_skew_command(cli: Cli, files: dict[str, Path]) -> None:
    result = cli("data", "skew", str(files["train"]), str(files["shifted"]), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["kind"] == "skew"


def test_bad_paths_name_the_path(cli: Cli, files: dict[str, Path], project: Path) -> None:
    missing = cli("data", "stats", "nope.parquet")
    assert missing.exit_code == 2 and "nope.parquet: no such file or folder" in missing.stderr
    (project / "notes.txt").write_text("x")
    wrong = cli("data", "drift", str(files["train"]), "notes.txt")
    assert wrong.exit_code == 2 and "notes.txt: unsupported file type" in wrong.stderr
    no_schema = cli("data", "validate", str(files["train"]), "--schema", "none.yaml")
    assert no_schema.exit_code == 1 and "none.yaml: no such schema file" in no_schema.stderr
    bad_method = cli("data", "drift", str(files["train"]), str(files["same"]), "-m", "wasserstein")
    assert bad_method.exit_code == 2 and "method must be one of" in bad_method.stderr
    to_folder = cli(
        "data", "drift", str(files["train"]), str(files["same"]), "--html", str(project)
    )
    assert to_folder.exit_code == 2 and "is a folder" in to_folder.stderr


def test_skew_needs_a_file_or_a_model(cli: Cli, files: dict[str, Path]) -> None:
    both = cli("data", "skew", str(files["train"]), str(files["same"]), "--model", "churn")
    assert both.exit_code == 2 and "either as a file (SERVING) or as --model NAME" in both.stderr
    none = cli("data", "skew", str(files["train"]), "--model", "nothing-logged")
    assert (
        none.exit_code == 1 and "no logged serving inputs for model 'nothing-logged'" in none.stderr
    )


def test_the_readme_commands_run(cli: Cli, project: Path) -> None:
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Data validation, drift and skew", 1)[1].split("```bash", 1)[1]
    lines = [ln.split("#")[0].strip() for ln in block.split("```", 1)[0].splitlines()]
    (project / "data").mkdir()
    make_frame(seed=1).to_parquet(project / "data" / "train.parquet")
    new = make_frame(seed=2, shift=1.0)
    new.loc[0, "age"] = 150
    new.to_csv(project / "data" / "new.csv", index=False)
    codes = []
    for line in filter(None, lines):
        args = shlex.split(line)
        assert args[0] == "mlstage"
        result = cli(*args[1:])
        codes.append(result.exit_code)
    assert codes == [0, 0, 1, 0, 0]  # new.csv has an age of 150 until the schema accepts it
    assert (project / "drift.html").read_text().startswith("<!DOCTYPE html>")
    assert "max: 150" in (project / "schema.yaml").read_text()
