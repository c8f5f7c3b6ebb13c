"""`import mlstage` stays light: heavy libraries load only when used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "sqlalchemy", "sklearn", "fastapi", "pydantic", "httpx", "alembic")


def test_import_mlstage_loads_nothing_heavy() -> None:
    code = f"import sys, mlstage; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve() -> None:
    import mlstage

    for name in mlstage.__all__:
        assert getattr(mlstage, name) is not None, name
