"""Importing the user's pipeline file by path: ``mlstage pipelines run training.py:training``.

The path is checked first (it exists, it is a ``.py`` file). The module gets a
name derived from the file's path, the same in every process, so worker
processes and Dask workers import the very same module to find a step.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline


def module_name_for(path: Path) -> str:
    resolved = path.resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"\W", "_", resolved.stem)
    return f"_mlstage_user_{stem}_{digest}"


def check_file(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise NotFound(f"pipeline file {path_text!r} does not exist")
    if not path.is_file():
        raise InvalidInput(f"pipeline file {path_text!r} is not a file")
    if path.suffix != ".py":
        raise InvalidInput(f"pipeline file {path_text!r} is not a Python file (.py)")
    return path.resolve()


def import_path(path_text: str, module_name: str | None = None) -> ModuleType:
    """Import the file at ``path_text`` (once per process), its folder first on sys.path."""
    path = check_file(path_text)
    name = module_name or module_name_for(path)
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == path:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"pipeline file {path_text!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_target(target: str) -> Pipeline:
    """The pipeline named by ``FILE.py:NAME`` (NAME may be left out when the file has one)."""
    from mlstage.pipelines.dsl import Pipeline

    path_text, _, attr = target.rpartition(":") if ":" in target else (target, "", "")
    if not path_text:
        path_text, attr = target, ""
    module = import_path(path_text)
    if attr:
        found = getattr(module, attr, None)
        if not isinstance(found, Pipeline):
            names = _pipelines_in(module)
            raise NotFound(
                f"{path_text} has no pipeline {attr!r} (pipelines there: "
                f"{', '.join(names) or 'none'})"
            )
        return found
    names = _pipelines_in(module)
    if len(names) != 1:
        raise InvalidInput(
            f"{path_text} defines {len(names)} pipelines ({', '.join(names) or 'none'}); "
            f"name one: {path_text}:NAME"
        )
    pipeline_object: Pipeline = getattr(module, names[0])
    return pipeline_object


def _pipelines_in(module: ModuleType) -> list[str]:
    from mlstage.pipelines.dsl import Pipeline

    return sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
