"""``mlstage demo``: from a first experiment to a governed champion in seconds, nothing to download.

Trains a few classifiers on scikit-learn's bundled breast-cancer data and
tracks each as a run of experiment ``demo``, model included; then registers
the best as ``demo-classifier``, puts it through the validation gate against
the current champion, promotes it if it passes and prints its model card.
It all goes through the public API behind ``import mlstage``, so what the
demo does is what a user's own script would do. Run it again and the new
version is validated against the champion of the first run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlstage.cli._console import console, fmt_number, text
from mlstage.cli._tables import runs_table
from mlstage.cli.models_view import (
    card_sections,
    heading,
    print_markdown,
    render_verdict,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from mlstage.cli.demo_loop import Receiver
    from mlstage.models.entities import ModelVersion
    from mlstage.models.validation import Verdict
    from mlstage.tracking.entities import Run

EXPERIMENT = "demo"
VALIDATION_EXPERIMENT = "demo-validation"
"""Validation and evaluation runs go here, so ``demo`` compares training runs only."""
METRIC = "roc_auc"
DATASET = "breast-cancer"
MODEL = "demo-classifier"
ALIAS = "champion"
TARGET = "target"
SLICE = "size"
"""A column the demo derives: tumours above or below the median mean radius."""
THRESHOLD = {"min": 0.9}
CHAMPION_DELTA = {"min_delta": -0.01}
SLICE_THRESHOLD = {"min": 0.8}
SEED = 0
CARD = {
    "intended_use": "A demonstration of mlstage: tracking, registry, validation gate, promotion. "
    "Not for diagnosis or any clinical decision.",
    "limitations": "Trained on 426 rows of the Wisconsin breast-cancer data (scikit-learn's "
    "copy); how it does on other populations, labs or imaging equipment is unknown.",
}


DEMO_USER = "demo"
MODEL_2 = "churn"
"""Stage 2's model, made by the template's training pipeline."""
PERSON_ANSWERS = ("C17", "C18", "C38")
"""Checks of stages 1 and 2 only a person can answer (roles, pairing); the demo answers them."""


def demo(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="The demo's project folder (created; a second run builds on the first).",
        ),
    ] = Path("mlstage-demo"),
    until: Annotated[
        int,
        typer.Option(
            min=1, max=2, help="Stop after stage 1 (tracking, registry, gate) or run stage 2 too."
        ),
    ] = 2,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the summary as JSON on stdout (progress on stderr)."),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Then start the server with sign-in on, and print the URL and a demo login.",
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port of the server [default: server_port, 5000]."),
    ] = None,
) -> None:
    """From a first experiment to a model that retrains itself: stages 0 to 2 in one run.

    Stage 1: five tracked models, the best registered, validated and promoted.
    Stage 2: a churn project whose pipeline, monitors and triggers retrain,
    validate and release a new version by canary over simulated days.
    """
    from mlstage.cli.demo_loop import Receiver

    started = time.perf_counter()
    out = console(stderr=as_json)
    receiver = Receiver()
    try:
        written = _enter(directory, receiver if until >= 2 else None)
        heading(out, f"Stage 0 to 1, in {directory}")
        if written:
            out.print(text(f"Project files written: {', '.join(written)}."))
        _walkthrough(out)
        summary = None
        if until >= 2:
            summary = _stage_two(out, receiver)
    finally:
        receiver.stop()
    if as_json and summary is not None:
        from mlstage.cli._console import print_json

        print_json({**summary, "seconds": round(time.perf_counter() - started, 1)})
    if serve:
        _serve(out, port)


def _enter(directory: Path, receiver: Receiver | None) -> list[str]:
    """Make ``directory`` the project: its files (for stage 2), its settings, its store."""
    import os

    from mlstage import config

    root = directory.resolve()
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if receiver is not None:
        from mlstage.cli.demo_project import prepare

        written = prepare(root, receiver.start())
    if root != Path.cwd().resolve():
        os.chdir(root)
        config.set_settings(config.load_settings())
    return written


def _stage_two(out: Console, receiver: Receiver) -> dict[str, Any]:
    """The loop over simulated days, its summary, and the maturity assessment."""
    from mlstage.cli.demo_loop import run_loop
    from mlstage.cli.demo_project import DEPLOYMENT

    heading(out, "Stage 2: the loop runs by itself (simulated days)")
    summary = run_loop(out, receiver)
    heading(out, "Summary")
    for version in summary.versions:
        aliases = f" ({', '.join(version['aliases'])})" if version["aliases"] else ""
        out.print(text(f"{MODEL_2}/{version['version']}{aliases}: {version['status']}"))
    for alert in summary.alerts:
        signed = "signed" if alert["signed"] else "UNSIGNED"
        out.print(text(f"Alert {alert['rule']!r} for {alert['subject']} reached the webhook "
                       f"({signed})."))  # fmt: skip
    out.print(text(f"{DEPLOYMENT} champion: {MODEL_2}/{summary.champion}.", "bold"))
    assessment = _assess(out)
    result = summary.to_dict()
    result["stage"] = assessment
    heading(out, "Look closer")
    for command in (
        f"cd {Path.cwd()}",
        f"mlstage monitor retrainings {DEPLOYMENT}",
        f"mlstage deployments history {DEPLOYMENT}",
        "mlstage assess",
        "mlstage server    # then open http://127.0.0.1:5000/monitoring",
    ):
        out.print(text(f"  {command}", "cyan"), soft_wrap=True)
    result["ui"] = "http://127.0.0.1:5000/monitoring"
    return result


def _assess(out: Console) -> int:
    """``mlstage assess`` on the demo project, with the three answers only people can give."""
    import time as clock

    from mlstage.config import get_settings
    from mlstage.governance.assess import assess as run_assessment
    from mlstage.governance.assess import engine
    from mlstage.store.database import get_database

    settings = get_settings()
    db = get_database(settings.tracking_uri, busy_timeout=settings.sqlite_busy_timeout)
    now = int(clock.time() * 1000)
    note = "answered by mlstage demo for its simulated team"
    for check_id in PERSON_ANSWERS:
        engine.save_answer(db, check_id, True, note, "mlstage demo", now)
    report = run_assessment(settings)
    heading(out, "Maturity (mlstage assess)")
    rates = ", ".join(f"{k} {v:.0%}" for k, v in report.stage_pass_rates.items())
    out.print(text(f"Stage {report.stage} reached. Pass rates: {rates}.", "bold"))
    out.print(text(f"({', '.join(PERSON_ANSWERS)} answered yes by the demo: only people can.)"))
    for step in report.next_steps:
        out.print(text(f"  next ({step['id']}): {step['check']}: {step['command']}"))
    return report.stage


def _serve(out: Console, port: int | None) -> None:
    """Keep the server and UI up for the demo's store, with a demo admin to sign in as.

    The demo user gets a fresh random password on every run (printed once),
    so no well-known login is ever left behind in a store.
    """
    import secrets

    from mlstage.cli._governance import governance_store
    from mlstage.config import get_settings
    from mlstage.errors import Conflict
    from mlstage.server import run

    settings = get_settings()
    store = governance_store()
    password = secrets.token_urlsafe(12)
    try:
        store.create_user(DEMO_USER, "admin", password, actor="mlstage demo")
    except Conflict:
        store.update_user(
            DEMO_USER, disabled=False, role="admin", password=password, actor="mlstage demo"
        )
    host = settings.server_host
    port = port or settings.server_port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (a URL to open)
    heading(out, "Server")
    out.print(text(f"mlstage UI: http://{shown}:{port}/", "bold"))
    out.print(text(f"Sign in as {DEMO_USER!r} with password {password!r} (Ctrl-C stops it)."))
    out.file.flush()
    run(host, port, settings=settings.with_overrides(auth_required=True), log_level="warning")


def _walkthrough(out: Console) -> None:
    """The demo itself: runs, registry, validation gate, promotion, card."""
    train, test = _split()
    runs = run_demo(out, train, test)
    title = f"Experiment {EXPERIMENT!r}, best {METRIC} first"
    out.print(runs_table(runs, width=out.width, order_by=[f"metrics.{METRIC} DESC"], title=title))
    best = runs[0]
    out.print(text(f"Best: {best.name} ({METRIC} {fmt_number(best.metrics.get(METRIC))})."))

    heading(out, "Registry")
    version = _register(best)
    out.print(text(f"Registered {MODEL} version {version.version} from {version.source}."))

    heading(out, "Validation gate")
    holdout = _holdout(test)
    data_file = _write_holdout(holdout)
    verdict = _validate(version, holdout)
    render_verdict(out, verdict)

    heading(out, "Promotion")
    _promote(out, version, verdict)

    heading(out, "Model card (short)")
    card = _card(version)
    print_markdown(out, card_sections(card))

    heading(out, "Look closer")
    label = f"{MODEL}/{version.version}"
    gate = (
        f"mlstage models validate {label} --data {data_file} --target {TARGET} "
        f"--task classification --champion {MODEL}@{ALIAS} "
        f"--threshold {METRIC}:min={THRESHOLD['min']} "
        f"--threshold {METRIC}:min_delta={CHAMPION_DELTA['min_delta']} "
        f"--slice-threshold {SLICE}:{METRIC}:min={SLICE_THRESHOLD['min']}"
    )
    for command in (
        f"mlstage runs show {best.run_id}",
        f"mlstage runs compare {' '.join(r.run_id for r in runs[:2])}",
        f'mlstage runs list -e {EXPERIMENT} --order-by "metrics.{METRIC} DESC"',
        f"mlstage models show {MODEL}",
        f"mlstage models history {MODEL}",
        f"mlstage models card {label}",
        gate,
    ):
        out.print(text(f"  {command}", "cyan"), soft_wrap=True)


def run_demo(out: Console, train: pd.DataFrame, test: pd.DataFrame) -> list[Run]:
    """Train, evaluate, log and track each candidate; the runs, best first."""
    from mlstage.cli._store import search_runs, tracking_store
    from mlstage.tracking import fluent as mlstage

    experiment = mlstage.set_experiment(EXPERIMENT)
    run_ids = []
    for name, params, model in _candidates():
        with out.status(f"Training {name}"), mlstage.start_run(name=name) as run:
            _train_and_log(model, params, train, test)
        run_ids.append(run.run_id)
    quoted = ", ".join(f"'{run_id}'" for run_id in run_ids)
    return search_runs(
        tracking_store(),
        [experiment.experiment_id],
        f"attributes.run_id IN ({quoted})",
        [f"metrics.{METRIC} DESC"],
        len(run_ids),
    )


def _split() -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=SEED, stratify=frame.target)
    return train, test


def _candidates() -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    candidates: list[tuple[str, dict[str, Any], Any]] = []
    for c in (0.01, 0.1, 1.0):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        candidates.append((f"logreg-C{c}", {"model": "logistic_regression", "C": c}, model))
    forest = {"n_estimators": 200, "max_depth": 6}
    candidates.append(
        (
            "random-forest",
            {"model": "random_forest", **forest},
            RandomForestClassifier(**forest, random_state=SEED),
        )
    )
    boosting = {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3}
    candidates.append(
        (
            "gradient-boosting",
            {"model": "gradient_boosting", **boosting},
            GradientBoostingClassifier(**boosting, random_state=SEED),
        )
    )
    return candidates


def _train_and_log(
    model: Any, params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame
) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

    from mlstage.models.api import log_model
    from mlstage.tracking import fluent as mlstage

    source = "sklearn.datasets.load_breast_cancer"
    mlstage.log_params({**params, "test_size": 0.25, "seed": SEED})
    mlstage.log_input(train, name=DATASET, context="training", source=source)
    mlstage.log_input(test, name=DATASET, context="evaluation", source=source)
    x_train, y_train = train.drop(columns=TARGET), train[TARGET]
    x_test, y_test = test.drop(columns=TARGET), test[TARGET]
    started = time.perf_counter()
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(x_test)
    scores = model.predict_proba(x_test)[:, 1]
    mlstage.log_metrics(
        {
            "accuracy": accuracy_score(y_test, predicted),
            "f1": f1_score(y_test, predicted),
            "roc_auc": roc_auc_score(y_test, scores),
            "fit_seconds": fit_seconds,
        }
    )
    matrix = confusion_matrix(y_test, predicted).tolist()
    mlstage.log_dict({"labels": ["malignant", "benign"], "matrix": matrix}, "confusion_matrix.json")
    # The whole training set as the example: the signature then records the ranges seen.
    log_model(model, "model", input_example=x_train)


# -- registry, gate, promotion, card ------------------------------------------------------------


def _register(best: Run) -> ModelVersion:
    from mlstage.models.api import get_registry_store, register_model

    value = fmt_number(best.metrics.get(METRIC))
    version = register_model(
        f"runs:/{best.run_id}/model",
        MODEL,
        description=f"{best.name}, the best {METRIC} ({value}) of a demo sweep",
    )
    registry = get_registry_store()
    if not registry.get_registered_model(MODEL).description:
        registry.update_registered_model(
            MODEL, description="Tells benign from malignant tumours; made by mlstage demo."
        )
    return version


def _holdout(test: pd.DataFrame) -> pd.DataFrame:
    """The test rows with the slice column: the gate checks large and small tumours apart."""
    median = test["mean radius"].median()
    holdout = test.copy()
    holdout[SLICE] = (holdout["mean radius"] > median).map({True: "large", False: "small"})
    return holdout


def _write_holdout(holdout: pd.DataFrame) -> str:
    """Save the gate's data, so the commands the demo suggests can be run as shown."""
    from mlstage.config import get_settings

    path = get_settings().home / "demo" / "holdout.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    holdout.to_csv(path, index=False)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _validate(version: ModelVersion, holdout: pd.DataFrame) -> Verdict:
    """The gate: absolute bounds always, and no worse than the champion once there is one."""
    from mlstage.models.api import get_registry_store
    from mlstage.models.validation import validate_candidate
    from mlstage.tracking import fluent

    bounds = dict(THRESHOLD)
    if ALIAS in get_registry_store().get_registered_model(MODEL).aliases:
        bounds.update(CHAMPION_DELTA)
    fluent.set_experiment(VALIDATION_EXPERIMENT)
    return validate_candidate(
        version.uri,
        holdout,
        TARGET,
        "classification",
        champion=f"{MODEL}@{ALIAS}",
        thresholds={METRIC: bounds},
        slice_thresholds={SLICE: {METRIC: dict(SLICE_THRESHOLD)}},
    )


def _promote(out: Console, version: ModelVersion, verdict: Verdict) -> None:
    from mlstage.models.api import get_registry_store, promote

    before = get_registry_store().get_registered_model(MODEL).aliases.get(ALIAS)
    if not verdict.passed:
        stays = f"stays at version {before}" if before is not None else "is not set"
        out.print(text(f"Not promoted: {MODEL}@{ALIAS} {stays}.", "yellow"))
        return
    promote(version.uri, ALIAS)
    was = f" (was version {before})" if before is not None else ""
    out.print(text(f"{MODEL}@{ALIAS} → version {version.version}{was}.", "green"))


def _card(version: ModelVersion) -> str:
    """Fill in what no record holds, store the card with the run, and return its Markdown."""
    from mlstage.models.api import get_registry_store
    from mlstage.models.cards import build_card, save_card

    get_registry_store().update_model_version(MODEL, version.version, card=CARD)
    save_card(MODEL, version.version)
    return build_card(MODEL, version.version).markdown
