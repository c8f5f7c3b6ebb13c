"""Feature references (``"view:feature"``): parsed once, grouped by view, named in the output.

Output columns take the feature's own name, as in Feast; when two views
offer a feature of one name, or ``full_feature_names=True``, they are
``view__feature``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlstage.errors import InvalidInput
from mlstage.features.definitions import ViewRecord


@dataclass(frozen=True)
class ViewRequest:
    """The features asked of one view, their positions in its layout, and their output names."""

    view: ViewRecord
    features: tuple[str, ...]
    positions: tuple[int, ...]
    outputs: tuple[str, ...]


def parse_refs(
    refs: Sequence[str] | str,
    views: Mapping[str, ViewRecord],
    *,
    full_feature_names: bool = False,
    what: str = "features",
) -> list[ViewRequest]:
    """Group ``refs`` by view in first-seen order; an unknown name is an error listing choices."""
    if isinstance(refs, str):
        refs = [refs]
    if not refs:
        raise InvalidInput(f'{what}: give at least one feature reference, "view:feature"')
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise InvalidInput(
                f'{what}: {ref!r} is not a feature reference of the form "view:feature"'
            )
        view_name, feature = ref.split(":")
        view = views.get(view_name)
        if view is None:
            known = ", ".join(sorted(views)) or "none registered yet (mlstage features apply)"
            raise InvalidInput(
                f"{what}: unknown feature view {view_name[:100]!r} in {ref[:200]!r}; views: {known}"
            )
        if feature not in view.feature_names:
            raise InvalidInput(
                f"{what}: feature view {view_name!r} has no feature {feature[:100]!r}; "
                f"its features: {', '.join(view.feature_names)}"
            )
        chosen = grouped.setdefault(view_name, [])
        if feature in chosen:
            raise InvalidInput(f"{what}: {ref!r} is asked for twice")
        chosen.append(feature)
    short = [f for names in grouped.values() for f in names]
    full = full_feature_names or len(set(short)) != len(short)
    requests = []
    for view_name, names in grouped.items():
        view = views[view_name]
        layout = view.feature_names
        requests.append(
            ViewRequest(
                view=view,
                features=tuple(names),
                positions=tuple(layout.index(n) for n in names),
                outputs=tuple(f"{view_name}__{n}" if full else n for n in names),
            )
        )
    return requests
