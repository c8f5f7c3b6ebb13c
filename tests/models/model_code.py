"""A custom PythonModel used by the tests: it must live in a module file, not in __main__."""

from __future__ import annotations

from typing import Any

from mlstage.models import PythonModel


class Threshold(PythonModel):
    def __init__(self, column: str, cutoff: float) -> None:
        self.column = column
        self.cutoff = cutoff
        self.scale = 1.0

    def load_context(self, context: Any) -> None:
        path = context.artifacts.get("scale")
        if path is not None:
            self.scale = float(path.read_text())

    def predict(self, model_input: Any) -> Any:
        return (model_input[self.column] * self.scale > self.cutoff).astype(int).to_numpy()
