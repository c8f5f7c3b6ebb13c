"""Custom predict code: a subclass of ``PythonModel`` saved as its module's source and JSON state.

Code is code: loading it runs it. So a python-flavor model loads only from a
registry version, after every file matched the hashes recorded when the
version was registered (see ``models/loading.py``).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.models.manifest import FlavorName, ModelManifest

CODE_DIR = "code"
ARTIFACTS_DIR = "artifacts"


@dataclass
class ModelContext:
    """What ``PythonModel.load_context`` receives: local paths of the model's artifacts."""

    artifacts: dict[str, Path] = field(default_factory=dict)


class PythonModel:
    """Base class for models with custom predict code.

    Subclass it in a module file (not in ``__main__``), keep instance state
    JSON-serialisable, and pass larger files as ``artifacts={"name": path}``
    to ``log_model``; ``load_context`` gets their local paths back.
    """

    def load_context(self, context: ModelContext) -> None:
        """Load artifacts (weights, vocabularies) before the first prediction."""

    def predict(self, model_input: Any) -> Any:
        raise NotImplementedError("PythonModel subclasses implement predict(model_input)")


class PythonFlavor:
    name: FlavorName = "python"

    def save(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any] | None]:
        cls = type(model)
        module = sys.modules.get(cls.__module__)
        if cls.__module__ == "__main__" or module is None or not getattr(module, "__file__", None):
            raise InvalidInput(
                f"define {cls.__name__} in a module file (for example model_code.py) and import "
                "it: its code is stored with the model, and a script's code would run again "
                "on load"
            )
        state = {k: v for k, v in vars(model).items() if not k.startswith("_")}
        try:
            state_json = json.dumps(state)
        except TypeError as exc:
            raise InvalidInput(
                f"{cls.__name__}'s attributes must be JSON-serialisable ({exc}); pass larger "
                "objects as files with log_model(..., artifacts={'name': path})"
            ) from exc
        module_file = f"{CODE_DIR}/{cls.__module__.replace('.', '_')}.py"
        files = {module_file: inspect.getsource(module).encode("utf-8")}
        details = {"module_file": module_file, "class_name": cls.__name__, "state": state_json}
        return files, details

    def load(self, files: dict[str, bytes], manifest: ModelManifest, settings: Settings) -> Any:
        details = manifest.python_model or {}
        module_file = details.get("module_file", "")
        if module_file not in files:
            raise InvalidInput(f"the model's code file {module_file!r} is missing")
        folder = Path(tempfile.mkdtemp(prefix="mlstage-model-"))
        for path, data in files.items():
            target = folder / path  # paths were canonicalised when stored
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        name = f"mlstage_model_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, folder / module_file)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"cannot import the model's code {module_file!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        cls = getattr(module, str(details.get("class_name")), None)
        if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
            raise InvalidInput(
                f"{details.get('class_name')!r} in the model's code is not a PythonModel"
            )
        model = cls.__new__(cls)
        vars(model).update(json.loads(details.get("state", "{}")))
        artifacts = {
            Path(p).parts[1]: folder / p
            for p in files
            if p.startswith(f"{ARTIFACTS_DIR}/") and len(Path(p).parts) == 3
        }
        model.load_context(ModelContext(artifacts=artifacts))
        return model
