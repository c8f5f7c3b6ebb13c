"""Custom PythonModels the serving tests load: they must live in a module file, not __main__."""

from __future__ import annotations

from typing import Any

from mlstage.models import PythonModel


class Broken(PythonModel):
    """Loads fine, fails every prediction: a candidate that must never be promoted."""

    def predict(self, model_input: Any) -> Any:
        raise RuntimeError("the feature table is gone")
