# Track a small sweep, then find the best run. Runs from any folder; writes to ./.mlstage.
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlstage

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

mlstage.set_experiment("quickstart")
for C in (0.01, 0.1, 1.0):
    with mlstage.start_run(name=f"logreg-C{C}"):  # FINISHED at the end, FAILED on an exception
        mlstage.log_params({"model": "logistic_regression", "C": C})
        mlstage.log_input(X_train, name="breast-cancer")  # digest, rows and column schema
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
        model.fit(X_train, y_train)
        mlstage.log_metrics(
            {
                "accuracy": accuracy_score(y_test, model.predict(X_test)),
                "roc_auc": roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]),
            }
        )
        mlstage.log_dict({"coef": model[-1].coef_.tolist()}, "coefficients.json")

runs = mlstage.search_runs(
    "quickstart", filter="metrics.roc_auc > 0.9", order_by=["metrics.roc_auc DESC"]
)
print(runs[["run_id", "run_name", "params.C", "metrics.roc_auc"]].to_string(index=False))
