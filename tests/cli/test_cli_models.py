"""``mlstage models ...`` against real models in a SQLite registry, as a user would run them."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import Result

import mlstage

Cli = Callable[..., Result]
FEATURES = ["f0", "f1", "f2", "f3"]
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
GATE = ("--data", "churn.csv", "--target", "churned", "--task", "classification")


def frame() -> pd.DataFrame:
    """200 labelled rows: four features, a region to slice on and a binary target."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=200, n_features=4, n_informative=3, n_redundant=0, class_sep=1.5, random_state=3
    )
    data = pd.DataFrame(X, columns=FEATURES)
    data["region"] = np.random.default_rng(3).choice(["EU", "US"], size=200)
    data["churned"] = y
    return data


@pytest.fixture
def trained(project: Path) -> dict[str, str]:
    """Run ids of two runs that logged a model (good: logistic regression, weak: the prior)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    data = frame()
    data.to_csv(project / "churn.csv", index=False)
    mlstage.set_experiment("train")
    ids = {}
    for name, model in (("good", LogisticRegression()), ("weak", DummyClassifier())):
        with mlstage.start_run(name=name) as run:
            model.fit(data[FEATURES], data["churned"])
            mlstage.log_model(model, "model", input_example=data[FEATURES])
        ids[name] = run.run_id
    return ids


@pytest.fixture
def churn(trained: dict[str, str]) -> dict[str, str]:
    """Model 'churn': version 1 the good model, version 2 the weak one; neither validated."""
    mlstage.register_model(f"runs:/{trained['good']}/model", "churn")
    mlstage.register_model(f"runs:/{trained['weak']}/model", "churn")
    return trained


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(ok(cli(*args, "--json")))


def fails(result: Result, code: int, message: str) -> None:
    """One red ``error:`` line on stderr containing ``message``, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr


# -- list, register, show, versions --------------------------------------------------------------


def test_list_before_and_after_registering(cli: Cli, trained: dict[str, str]) -> None:
    assert "No registered models yet" in ok(cli("models", "list"))
    assert as_json(cli, "models", "list") == []

    out = ok(cli("models", "register", trained["good"], "churn", "--description", "First try"))
    assert f"Registered churn version 1 (models:/churn/1) from runs:/{trained['good']}/model" in out
    registered = as_json(cli, "models", "register", f"runs:/{trained['weak']}/model", "churn")
    assert (registered["name"], registered["version"], registered["status"]) == (
        "churn",
        2,
        "READY",
    )

    [model] = as_json(cli, "models", "list")
    assert (model["name"], model["latest_version"], model["description"]) == (
        "churn",
        2,
        "First try",
    )
    table = ok(cli("models", "list"))
    assert re.search(r"│ churn\s+│\s+2 │ -\s+│ \S+\s+│ First try", table), table


def test_register_refuses_what_is_not_a_logged_model(cli: Cli, trained: dict[str, str]) -> None:
    fails(cli("models", "register", "nope", "churn"), 2, "'nope' is neither a run id")
    fails(cli("models", "register", "a" * 32, "churn"), 1, f"run '{'a' * 32}' does not exist")
    no_model = f"runs:/{trained['good']}/elsewhere"
    fails(cli("models", "register", no_model, "churn"), 2, "log the model with mlstage.log_model")
    fails(cli("models", "register", "models:/churn/1", "x"), 2, "is already registered")
    fails(cli("models", "register", trained["good"], "bad name"), 2, "model name 'bad name'")
    assert as_json(cli, "models", "list") == []


def test_show_a_model_and_its_versions(cli: Cli, churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "champion", 1)
    out = ok(cli("models", "show", "churn"))
    assert "Model churn" in out
    assert "champion: 1" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["1", "2"]
    assert "champion" in rows[0] and churn["good"] in rows[0] and "READY" in rows[0]
    assert churn["weak"] in rows[1]

    data = as_json(cli, "models", "show", "churn")
    assert data["aliases"] == {"champion": 1}
    assert [(v["version"], v["run_id"]) for v in data["versions"]] == [
        (1, churn["good"]),
        (2, churn["weak"]),
    ]
    versions = as_json(cli, "models", "versions", "churn")
    assert [v["aliases"] for v in versions] == [["champion"], []]
    assert "Model churn" in ok(cli("models", "versions", "churn"))


def test_show_one_version_by_any_address(cli: Cli, churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "champion", 2)
    for address in ("churn/2", "churn@champion", "models:/churn/2", "models:/churn@champion"):
        assert as_json(cli, "models", "show", address)["version"] == 2, address
    out = ok(cli("models", "show", "churn@champion"))
    assert "Model churn version 2" in out
    assert f"runs:/{churn['weak']}/model" in out
    assert "not through the validation gate yet (READY)" in out


def test_unknown_models_and_bad_addresses(cli: Cli, churn: dict[str, str]) -> None:
    fails(cli("models", "show", "nope"), 1, "registered model 'nope' does not exist")
    fails(cli("models", "versions", "nope"), 1, "see `mlstage models list`")
    fails(cli("models", "history", "nope"), 1, "registered model 'nope' does not exist")
    fails(cli("models", "show", "churn/9"), 1, "model 'churn' has no version 9")
    fails(cli("models", "show", "churn@nope"), 1, "model 'churn' has no alias 'nope'")
    fails(cli("models", "show", "a/b/c"), 2, "model address 'a/b/c'")
    fails(cli("models", "card", "a/b/c"), 2, "use NAME/VERSION (churn/3), NAME@ALIAS")
    fails(cli("models", "card", "churn"), 2, "'churn' names no version: use churn/<version>")
    fails(cli("models", "versions", "churn/1"), 2, "give the model's NAME here")
    run_model = f"runs:/{churn['good']}/model"
    fails(cli("models", "promote", run_model), 2, "is a run's model, not a registered one")


# -- aliases, promotion, history -----------------------------------------------------------------


def test_set_move_and_delete_an_alias(cli: Cli, churn: dict[str, str]) -> None:
    assert "churn@previous → version 1." in ok(cli("models", "alias", "churn/1", "previous"))
    moved = ok(cli("models", "alias", "churn/2", "previous", "--reason", "rollback drill"))
    assert "churn@previous → version 2 (was version 1)." in moved
    fails(cli("models", "alias", "churn/1", "previous", "--delete"), 1, "points at version 2")
    assert "Removed churn@previous (was version 2)." in ok(
        cli("models", "alias", "churn", "previous", "--delete")
    )
    assert as_json(cli, "models", "show", "churn")["aliases"] == {}
    fails(cli("models", "alias", "churn", "previous", "--delete"), 1, "has no alias 'previous'")
    fails(cli("models", "alias", "churn/1", "Champion"), 2, "alias 'Champion' must be")
    fails(cli("models", "alias", "churn", "champion"), 2, "name the version (churn/<version>)")

    history = as_json(cli, "models", "history", "churn")
    moves = [(h["action"], h["alias"], h["to_value"], h["reason"]) for h in history[2:]]
    assert moves == [
        ("alias_set", "previous", "1", ""),
        ("alias_set", "previous", "2", "rollback drill"),
        ("alias_deleted", "previous", None, ""),
    ]


def test_promote_is_refused_until_validated(cli: Cli, churn: dict[str, str]) -> None:
    fails(
        cli("models", "promote", "churn/1", "--alias", "champion"),
        1,
        "version 1 of 'churn' is READY, not VALIDATED: run the validation gate",
    )
    fails(cli("models", "promote", "churn/1", "--force"), 2, '--force needs --reason "..."')
    assert as_json(cli, "models", "show", "churn")["aliases"] == {}

    ok(cli("models", "validate", "churn/1", *GATE, "--threshold", "roc_auc:min=0.8"))
    assert "Promoted churn/1 to @champion." in ok(cli("models", "promote", "churn/1"))
    forced = ok(cli("models", "promote", "churn/2", "--force", "--reason", "hotfix for ticket 42"))
    assert "Promoted churn/2 to @champion (was version 1). Forced" in forced

    history = as_json(cli, "models", "history", "churn")
    assert [h["action"] for h in history] == [
        "registered",
        "registered",
        "status_changed",
        "alias_set",
        "alias_set",
    ]
    assert history[-1]["reason"] == "forced: hotfix for ticket 42"
    table = ok(cli("models", "history", "churn"))
    assert "READY → VALIDATED" in table
    assert "@champion → 2 (was 1)" in table
    assert "forced: hotfix for ticket 42" in table


# -- evaluate and validate -------------------------------------------------------------------


def test_evaluate_prints_metrics_and_slices(cli: Cli, churn: dict[str, str]) -> None:
    out = ok(cli("models", "evaluate", "churn/1", *GATE, "--slice", "region"))
    assert "Evaluated models:/churn/1 on churn.csv: 200 rows, classification" in out
    assert re.search(r"roc_auc\s+0\.9\d+", out), out
    assert "Slices by region" in out
    assert re.search(r"│ EU\s+│\s+\d+ │\s+0\.\d+ │", out), out
    assert re.search(r"│ US\s+│\s+\d+ │", out), out
    run_id = re.search(r"Logged as run ([0-9a-f]{32})", out)
    assert run_id is not None
    assert ok(cli("runs", "show", run_id.group(1)))


def test_evaluate_json_parquet_and_a_runs_uri(
    cli: Cli, churn: dict[str, str], project: Path
) -> None:
    frame().to_parquet(project / "churn.parquet")
    uri = f"runs:/{churn['weak']}/model"
    args = ("--data", "churn.parquet", "--target", "churned", "--task", "classification")
    data = as_json(cli, "models", "evaluate", uri, *args, "--slice", "region", "--no-log")
    assert data["model_uri"] == uri
    assert data["metrics"]["roc_auc"] == pytest.approx(0.5)
    assert set(data["slices"]["region"]) == {"EU", "US"}
    assert data["run_id"] is None
    assert "curves" not in data


def test_data_errors_name_the_option(cli: Cli, churn: dict[str, str], project: Path) -> None:
    (project / "notes.txt").write_text("x")
    (project / "broken.parquet").write_bytes(b"not parquet")
    evaluate = ("models", "evaluate", "churn/1", "--task", "classification", "--target", "churned")
    fails(cli(*evaluate, "--data", "missing.csv"), 2, "--data 'missing.csv' does not exist")
    fails(cli(*evaluate, "--data", "notes.txt"), 2, "--data 'notes.txt' must be a .csv or .parquet")
    fails(cli(*evaluate, "--data", "broken.parquet"), 2, "is not readable as Parquet")
    wrong_target = ("models", "evaluate", "churn/1", "--task", "classification", "--target", "y")
    fails(cli(*wrong_target, "--data", "churn.csv"), 2, "--target: column 'y' is not in churn.csv")
    fails(cli(*evaluate, "--data", "churn.csv", "--slice", "zone"), 2, "--slice: column 'zone'")
    bad_task = cli("models", "evaluate", "churn/1", *GATE[:4], "--task", "ranking")
    assert bad_task.exit_code == 2
    assert "--task" in bad_task.stderr


def test_validate_passes_records_and_exits_0(cli: Cli, churn: dict[str, str]) -> None:
    result = cli(
        "models",
        "validate",
        "churn/1",
        *GATE,
        "--threshold",
        "roc_auc:min=0.8",
        "--slice-threshold",
        "region:roc_auc:min=0.7",
    )
    out = ok(result)
    assert "no champion given: only absolute thresholds are checked" in out
    assert re.search(r"roc_auc 0\.9\d\d >= min 0\.800: pass", out)
    assert re.search(r"slice region=EU roc_auc 0\.\d+ >= min 0\.700: pass", out)
    assert re.search(r"slice region=US roc_auc 0\.\d+ >= min 0\.700: pass", out)
    assert "PASSED: models:/churn/1 meets all 3 checks; now VALIDATED" in out
    assert "mlstage models promote churn/1 --alias champion" in out
    version = as_json(cli, "models", "show", "churn/1")
    assert version["status"] == "VALIDATED"
    assert version["validation"]["passed"] is True


def test_validate_fails_against_the_champion_and_exits_1(cli: Cli, churn: dict[str, str]) -> None:
    ok(cli("models", "validate", "churn/1", *GATE, "--threshold", "roc_auc:min=0.8"))
    ok(cli("models", "promote", "churn/1"))
    args = ["models", "validate", "churn/2", *GATE, "--champion", "churn@champion"]
    args += ["--threshold", "roc_auc:min=0.8", "--threshold", "roc_auc:min_delta=-0.01"]
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert "  champion churn@champion is churn/1" in lines
    assert "  roc_auc 0.500 < min 0.800: FAIL" in lines
    assert any(
        re.fullmatch(r"  roc_auc delta -0\.\d+ < min_delta -0\.010 .*: FAIL", x) for x in lines
    )
    assert "REJECTED: models:/churn/2 fails 2 of 2 checks; now REJECTED" in lines
    assert as_json(cli, "models", "show", "churn/2")["status"] == "REJECTED"

    verdict = cli(*args, "--json", "--no-log")
    assert verdict.exit_code == 1
    data = json.loads(verdict.stdout)
    assert data["passed"] is False
    assert data["champion_version"] == 1
    assert data["run_id"] is None


def test_validate_no_mark_leaves_the_status(cli: Cli, churn: dict[str, str]) -> None:
    result = cli(
        "models", "validate", "churn/2", *GATE, "--threshold", "roc_auc:min=0.8", "--no-mark"
    )
    assert result.exit_code == 1
    assert "not recorded on any version" in result.stdout
    assert as_json(cli, "models", "show", "churn/2")["status"] == "READY"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--threshold", "roc_auc>0.8"], "--threshold 'roc_auc>0.8' must be METRIC:BOUND=NUMBER"),
        (
            ["--threshold", "roc_auc:min=high"],
            "--threshold 'roc_auc:min=high': 'high' is not a number",
        ),
        (["--threshold", "rocauc:min=0.8"], "--threshold: unknown metric(s) rocauc"),
        (["--threshold", "roc_auc:least=0.8"], "unknown bound 'least'"),
        (["--threshold", "roc_auc:min=0.8", "--threshold", "roc_auc:min=0.9"], "given twice"),
        (["--threshold", "roc_auc:min_delta=-0.1"], "add --champion NAME@ALIAS"),
        (["--slice-threshold", "roc_auc:min=0.7"], "--slice-threshold 'roc_auc:min=0.7' must be"),
        (["--slice-threshold", "zone:roc_auc:min=0.7"], "--slice-threshold: column 'zone'"),
        (["--threshold", "roc_auc:min=0.8", "--champion", "churn"], "--champion 'churn' names no"),
        ([], "give at least one --threshold"),
    ],
)
def test_bad_gate_options_name_the_option(
    cli: Cli, churn: dict[str, str], options: list[str], message: str
) -> None:
    fails(cli("models", "validate", "churn/1", *GATE, *options), 2, message)
    assert as_json(cli, "models", "show", "churn/1")["status"] == "READY"


# -- cards -------------------------------------------------------------------------------------


def test_card_markdown_in_a_pipe_and_rendered_in_a_terminal(
    cli: Cli, churn: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = ok(cli("models", "card", "churn/1"))
    assert piped.startswith("# Model card: churn version 1\n")
    assert "| Status | READY |" in piped
    assert "mlstage models card churn/1 --set intended_use=..." in piped
    assert ok(cli("models", "card", "churn/1", "--raw")).startswith("# Model card")

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    rendered = ok(cli("models", "card", "churn/1"))
    assert "Model card: churn version 1" in rendered
    assert "# Model card" not in rendered
    assert "|---|" not in rendered
    assert ok(cli("models", "card", "churn/1", "--raw")).startswith("# Model card")


def test_card_edit_export_and_save(cli: Cli, churn: dict[str, str], project: Path) -> None:
    out = ok(
        cli(
            "models",
            "card",
            "churn/1",
            "--set",
            "intended_use=Rank customers for the retention team",
            "--set",
            "limitations=Synthetic data",
        )
    )
    assert "Updated intended_use, limitations on the card of churn/1." in out
    card = ok(cli("models", "card", "churn/1"))
    assert "## Intended use\n\nRank customers for the retention team\n" in card
    assert "## Limitations\n\nSynthetic data\n" in card

    out = ok(cli("models", "card", "churn/1", "--html", "card.html", "--save"))
    assert "Wrote the card of churn/1 to card.html." in out
    page = (project / "card.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Rank customers for the retention team" in page
    artifacts = as_json(cli, "runs", "show", churn["good"])["artifacts"]
    assert {"card/model-card.md", "card/model-card.html"} <= {a["path"] for a in artifacts}


def test_card_errors(cli: Cli, churn: dict[str, str]) -> None:
    fails(
        cli("models", "card", "churn/1", "--set", "owner=me"),
        2,
        "--set: unknown card field 'owner'",
    )
    fails(cli("models", "card", "churn/1", "--set", "notes"), 2, "--set takes FIELD=VALUE")
    fails(cli("models", "card", "churn/1", "--html", "no/such/dir/c.html"), 2, "--html: folder")
    fails(cli("models", "card", "churn/7"), 1, "model 'churn' has no version 7")


# -- the README's models section -----------------------------------------------------------------


def readme_commands() -> list[str]:
    section = README.split("### Models", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "no ```bash block after ### Models"
    return [line for line in match.group(1).replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.slow
def test_every_command_of_the_readme_models_section_works(cli: Cli, project: Path) -> None:
    ok(cli("demo", "--dir", ".", "--until", "1"))
    runs = as_json(cli, "runs", "list", "-e", "demo", "--order-by", "metrics.roc_auc DESC")
    for line in readme_commands():
        args = shlex.split(line, comments=True)
        assert args[0] == "mlstage", line
        args = [runs[0]["run_id"] if arg == "RUN_ID" else arg for arg in args[1:]]
        result = cli(*args)
        assert result.exit_code == 0, f"{line}\n{result.output}"
        assert result.stderr == "", line
    assert (project / "card.html").is_file()
    model = as_json(cli, "models", "show", "demo-classifier")
    assert model["aliases"] == {"champion": 2, "previous": 1}
