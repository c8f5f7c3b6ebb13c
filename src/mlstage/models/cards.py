"""Model cards: what a registered version is, where it came from, how it did, what it is for.

Generated from records, not written by hand: the registry version, its
source run (params, metrics, git commit, datasets), its manifest (signature,
requirements) and the validation verdict. People add the parts no record
holds (intended use, limitations, ethical considerations) as card fields.

Every value shown comes from users, so every value is escaped: the HTML has
no scripts, loads nothing, and forbids both through its Content-Security-Policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from mlstage.errors import InvalidInput, NotFound
from mlstage.models.card_render import (
    Block,
    Bullets,
    Cell,
    Code,
    Missing,
    Para,
    Section,
    Table,
    render_html,
    render_markdown,
    when,
)

if TYPE_CHECKING:
    from mlstage.models.entities import ModelVersion
    from mlstage.models.manifest import ModelManifest
    from mlstage.models.signature import ColumnSpec
    from mlstage.tracking.entities import Run

CARD_MARKDOWN = "card/model-card.md"
CARD_HTML = "card/model-card.html"
EDITABLE = (
    ("intended_use", "Intended use"),
    ("limitations", "Limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("training_data", "Training data"),
    ("notes", "Notes"),
)
MAX_CATEGORIES_SHOWN = 10


class ModelCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int
    markdown: str
    html: str


def _number(value: float) -> str:
    return f"{value:.4g}"


def _pairs(pairs: list[tuple[str, Cell]]) -> Table:
    return Table(["Field", "Value"], [[k, x] for k, x in pairs])


# -- gathering ----------------------------------------------------------------------------------


def build_card(name: str, version: int) -> ModelCard:
    """The card of ``name`` version ``version``, as Markdown and as a self-contained HTML page."""
    from mlstage.models.api import get_registry_store
    from mlstage.models.manifest import MANIFEST_FILE, load_manifest

    registry = get_registry_store()
    mv = registry.get_model_version(name, version)
    model_description = registry.get_registered_model(name).description
    manifest = load_manifest(registry.read_version_file(name, mv.version, MANIFEST_FILE))
    run = _source_run(mv.run_id)
    title = f"Model card: {mv.name} version {mv.version}"
    sections = [
        _overview(mv, model_description, manifest),
        *_editable(mv, ("intended_use", "limitations", "ethical_considerations")),
        _training_data(mv, manifest, run),
        _lineage(mv, run),
        _signature(manifest),
        _validation(mv),
        *_editable(mv, ("notes",)),
        _files(mv),
    ]
    return ModelCard(
        name=mv.name,
        version=mv.version,
        markdown=render_markdown(title, sections),
        html=render_html(title, sections),
    )


def save_card(name: str, version: int) -> tuple[str, str]:
    """Store the card as artifacts of the version's source run; return (markdown, html) paths."""
    from mlstage.models.api import get_registry_store
    from mlstage.tracking.store import get_tracking_store

    mv = get_registry_store().get_model_version(name, version)
    if mv.run_id is None:
        raise InvalidInput(f"version {version} of {name!r} has no source run to store its card in")
    card = build_card(name, version)
    tracking = get_tracking_store()
    md = tracking.log_artifact(mv.run_id, CARD_MARKDOWN, card.markdown.encode("utf-8"))
    page = tracking.log_artifact(mv.run_id, CARD_HTML, card.html.encode("utf-8"))
    return md.path, page.path


def _source_run(run_id: str | None) -> Run | None:
    from mlstage.tracking.store import get_tracking_store

    if run_id is None:
        return None
    try:
        return get_tracking_store().get_run(run_id)
    except NotFound:
        return None


def _overview(mv: ModelVersion, model_description: str, manifest: ModelManifest) -> Section:
    texts = dict.fromkeys(t for t in (mv.description, model_description) if t)  # once each
    blocks: list[Block] = [Para(text) for text in texts]
    requirements = ", ".join(manifest.requirements) or "none recorded"
    blocks.append(
        _pairs(
            [
                ("Name", mv.name),
                ("Version", str(mv.version)),
                ("Status", mv.status.value),
                ("Aliases", ", ".join(mv.aliases) or "none"),
                ("Created by", mv.created_by or "unknown"),
                ("Created at", when(mv.created_at)),
                ("Source", Code(mv.source)),
                ("Flavor", manifest.flavor),
                ("Model class", Code(manifest.model_class)),
                ("Python", manifest.python_version or "unknown"),
                ("Requirements", requirements),
            ]
        )
    )
    return Section("Model details", blocks)


def _editable(mv: ModelVersion, fields: tuple[str, ...]) -> list[Section]:
    titles = dict(EDITABLE)
    return [Section(titles[f], [_field(mv, f)]) for f in fields]


def _field(mv: ModelVersion, name: str) -> Block:
    text = mv.card.get(name)
    if text:
        return Para(text)
    return Missing(f"mlstage models card {mv.name}/{mv.version} --set {name}=...")


def _training_data(mv: ModelVersion, manifest: ModelManifest, run: Run | None) -> Section:
    blocks: list[Block] = [_field(mv, "training_data")]
    if run is not None and run.inputs:
        rows: list[list[Cell]] = [
            [
                i.dataset.name,
                i.context,
                Code(i.dataset.digest),
                str(i.dataset.num_rows),
                str(i.dataset.num_columns),
            ]
            for i in run.inputs
        ]
        blocks.append(Table(["Dataset", "Context", "Digest", "Rows", "Columns"], rows))
    elif manifest.datasets:
        blocks.append(
            Table(
                ["Dataset", "Context", "Digest"],
                [[d.name, d.context, Code(d.digest)] for d in manifest.datasets],
            )
        )
    else:
        blocks.append(Para("No dataset was logged with mlstage.log_input by the source run."))
    return Section("Training data", blocks)


def _lineage(mv: ModelVersion, run: Run | None) -> Section:
    if run is None:
        return Section("Lineage", [Para(f"The source run {mv.run_id or ''} is not available.")])
    ctx = run.context
    commit: Cell = Code(ctx.git_commit) if ctx.git_commit else "not in a git repository"
    dirty = {True: "yes: uncommitted changes", False: "no", None: "unknown"}[ctx.git_dirty]
    blocks: list[Block] = [
        _pairs(
            [
                ("Run", Code(run.run_id)),
                ("Run name", run.name),
                ("Experiment id", run.experiment_id),
                ("Run status", run.status.value),
                ("User", ctx.user or "unknown"),
                ("Host", ctx.host or "unknown"),
                ("Source", ctx.source or "unknown"),
                ("Git commit", commit),
                ("Git dirty", dirty),
                ("Started", when(run.start_time)),
            ]
        )
    ]
    if run.params:
        blocks.append(Table(["Param", "Value"], [[k, x] for k, x in sorted(run.params.items())]))
    if run.metrics:
        rows: list[list[Cell]] = [[k, _number(x)] for k, x in sorted(run.metrics.items())]
        blocks.append(Table(["Metric", "Value"], rows))
    return Section("Lineage", blocks)


def _column(spec: ColumnSpec) -> list[Cell]:
    if spec.min is not None and spec.max is not None:
        seen = f"{_number(spec.min)} to {_number(spec.max)}"
    elif spec.categories is not None:
        shown = spec.categories[:MAX_CATEGORIES_SHOWN]
        more = len(spec.categories) - len(shown)
        seen = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    else:
        seen = ""
    return [spec.name, spec.type, "yes" if spec.nullable else "no", seen]


def _signature(manifest: ModelManifest) -> Section:
    signature = manifest.signature
    if signature is None:
        return Section("Signature", [Para("No signature: inputs are not checked at prediction.")])
    headers = ["Column", "Type", "Nullable", "Seen in training"]
    blocks: list[Block] = [
        Para(f"Inputs ({signature.input_kind}):"),
        Table(headers, [_column(c) for c in signature.inputs]),
    ]
    if signature.outputs:
        blocks += [Para("Outputs:"), Table(headers, [_column(c) for c in signature.outputs])]
    return Section("Signature", blocks)


def _validation(mv: ModelVersion) -> Section:
    verdict = mv.validation
    if not verdict:
        return Section("Validation", [Para(f"Not through the validation gate yet ({mv.status}).")])
    passed = bool(verdict.get("passed"))
    champion: Cell = Code(str(verdict["champion"])) if verdict.get("champion") else "none"
    blocks: list[Block] = [
        _pairs(
            [
                ("Result", "PASSED" if passed else "FAILED"),
                ("Checked at", when(_int(verdict.get("checked_at")))),
                ("Checked by", str(verdict.get("checked_by") or "unknown")),
                ("Champion", champion),
            ]
        ),
        Bullets([str(r) for r in verdict.get("reasons") or []]),
    ]
    candidate = _floats(verdict.get("candidate_metrics"))
    baseline = _floats(verdict.get("champion_metrics"))
    if candidate:
        rows: list[list[Cell]] = [
            [k, _number(x), _number(baseline[k]) if k in baseline else ""]
            for k, x in sorted(candidate.items())
        ]
        blocks.append(Table(["Metric", "This version", "Champion"], rows))
    return Section("Validation", blocks)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _floats(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(x) for k, x in value.items() if isinstance(x, int | float)}


def _files(mv: ModelVersion) -> Section:
    rows: list[list[Cell]] = [[path, Code(sha)] for path, sha in sorted(mv.files.items())]
    return Section("Files", [Table(["File", "sha256"], rows)])
