"""A version's model card, built from the server's own stores.

``mlstage.models.cards.build_card`` reads the process-wide stores (the
client's settings); a server renders the card of *its* database, so this
assembles the same sections, in the same order, from the stores it is
given. The HTML comes from ``card_render``, which escapes every value; the
UI serves it sandboxed (see ``routes_registry.card``).
"""

from __future__ import annotations

from mlstage.errors import NotFound
from mlstage.models import cards
from mlstage.models.card_render import render_html
from mlstage.models.manifest import MANIFEST_FILE, load_manifest
from mlstage.models.sql_store import SqlRegistryStore
from mlstage.tracking.entities import Run


def card_html(registry: SqlRegistryStore, name: str, version: int) -> str:
    """The card of ``name`` version ``version`` as one self-contained HTML page."""
    mv = registry.get_model_version(name, version)
    description = registry.get_registered_model(name).description
    manifest = load_manifest(registry.read_version_file(name, mv.version, MANIFEST_FILE))
    run: Run | None = None
    if mv.run_id is not None:
        try:
            run = registry.tracking.get_run(mv.run_id)
        except NotFound:
            run = None
    sections = [
        cards._overview(mv, description, manifest),
        *cards._editable(mv, ("intended_use", "limitations", "ethical_considerations")),
        cards._training_data(mv, manifest, run),
        cards._lineage(mv, run),
        cards._signature(manifest),
        cards._validation(mv),
        *cards._editable(mv, ("notes",)),
        cards._files(mv),
    ]
    return render_html(f"Model card: {mv.name} version {mv.version}", sections)
