"""Export a registered model version's files to a folder, after the classification policies.

Every file is checked against the sha256 recorded at registration before
anything is written; a refused export writes nothing and is audited
(``mlstage.governance.policy``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlstage.errors import Conflict, IntegrityError, InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings


@dataclass(frozen=True)
class Exported:
    model: str
    version: int
    classification: str
    folder: str
    files: list[str]


def export_model(
    uri: str,
    to: str | Path,
    *,
    environment: str | None = None,
    actor: str = "",
    role: str | None = None,
    settings: Settings | None = None,
) -> Exported:
    """Copy ``models:/name@alias`` (or ``name/3``) into the folder ``to`` (new or empty).

    ``environment`` defaults to the ``environment`` setting; ``role`` is the
    caller's role where one is known (a server), ``None`` for local use.
    """
    from mlstage.config import get_settings
    from mlstage.governance.policy import policy_for
    from mlstage.models.api import get_registry_store
    from mlstage.models.uri import RegistryRef, parse_model_uri

    settings = settings or get_settings()
    ref = parse_model_uri(uri if uri.startswith(("models:/", "runs:/")) else f"models:/{uri}")
    if not isinstance(ref, RegistryRef):
        raise InvalidInput(
            f"export a registered model version (churn@champion, churn/3), not {uri!r}"
        )
    target = Path(to)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise Conflict(f"--to {str(target)!r} exists and is not an empty folder")
    registry = get_registry_store()
    version = registry.resolve(ref)
    policy = policy_for(settings)
    level = ""
    if policy is not None:
        level = policy.export(
            version.name, version.version, environment, actor=actor or "unknown", role=role
        ).level
    elif environment or settings.environment:
        raise InvalidInput(
            "exports in an environment are checked against the metadata database: run "
            "`mlstage models export` where MLSTAGE_TRACKING_URI is the database"
        )
    contents = {}
    for path, sha in sorted(version.files.items()):
        data = registry.read_version_file(version.name, version.version, path)
        if hashlib.sha256(data).hexdigest() != sha:
            raise IntegrityError(
                f"file {path!r} of {version.name}/{version.version} does not match its recorded "
                "sha256; the artifact store is damaged"
            )
        contents[path] = data
    for path, data in contents.items():
        out = (target / path).resolve()
        if not out.is_relative_to(target.resolve()):
            raise IntegrityError(f"model file path {path!r} leaves the export folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return Exported(version.name, version.version, level, str(target), sorted(contents))
