"""Models: the package format, flavors, the registry, evaluation, validation gates and cards."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "PythonModel":
        from mlstage.models.flavors.python import PythonModel

        return PythonModel
    raise AttributeError(f"module 'mlstage.models' has no attribute {name!r}")
