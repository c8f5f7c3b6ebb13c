"""A scikit-learn forest's trees as flat arrays, walked for every tree at once.

A forest's ``predict_proba`` on one row calls each tree in turn (through
joblib): a hundred Python calls, input checks and GIL hand-offs for a
hundred lookups, about 10 ms for a hundred trees where the lookups
themselves take microseconds. For the small batches a prediction service
sees, ``FlatForest`` walks all trees of all rows together, one NumPy step
per tree level, as Triton's forest backend and Hummingbird do. Its answers
are scikit-learn's to the last bit: the same float32 input, the same
``<=`` against the same float64 thresholds, the same leaf values summed
tree by tree in the same order, the same division. ``compile_forest``
checks that on probe rows built from the forest's own thresholds before a
service uses it, and gives ``None`` (use scikit-learn) for anything else.
Inputs with NaN or infinity, and large batches (where scikit-learn's
per-tree loop is as fast), go to scikit-learn unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAX_ROWS = 128
"""Batches up to this many rows are walked flat; larger ones go to scikit-learn."""
_PROBE_ROWS = 256

_FORESTS = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
    }
)


class FlatForest:
    """Every node of every tree in five arrays; node ``i``'s children at ``2i`` and ``2i+1``."""

    def __init__(self, trees: list[Any], n_features: int, classifier: bool) -> None:
        sizes = [tree.node_count for tree in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        feature = np.concatenate([tree.feature for tree in trees]).astype(np.intp)
        leaf = feature < 0
        own = np.arange(len(feature), dtype=np.intp)
        left = np.concatenate(
            [tree.children_left + off for tree, off in zip(trees, offsets, strict=True)]
        )
        right = np.concatenate(
            [tree.children_right + off for tree, off in zip(trees, offsets, strict=True)]
        )
        # A leaf leads to itself, so walking past a shallow tree's depth changes nothing.
        children = np.empty((len(feature), 2), dtype=np.intp)
        children[:, 0] = np.where(leaf, own, left)
        children[:, 1] = np.where(leaf, own, right)
        self._children = children.reshape(-1)
        self._feature = np.where(leaf, 0, feature)
        self._threshold = np.concatenate([tree.threshold for tree in trees]).astype(np.float64)
        self._leaf = leaf
        self._roots = offsets
        self._depth = max(int(tree.max_depth) for tree in trees)
        self.n_features = n_features
        self.classifier = classifier
        if classifier:
            n_classes = trees[0].n_classes[0]
            self._value = np.concatenate([tree.value[:, 0, :n_classes] for tree in trees])
        else:
            self._value = np.concatenate([tree.value[:, 0, 0] for tree in trees])

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """The leaf each tree sends each row to: shape (trees, rows); ``x`` is float32."""
        n = x.shape[0]
        nodes = np.repeat(self._roots[:, None], n, axis=1)  # (trees, rows)
        rows = np.arange(n, dtype=np.intp)
        for _ in range(self._depth):
            values = x[rows, self._feature[nodes]]  # float32, compared as float64 like the C code
            nodes = self._children[2 * nodes + (values > self._threshold[nodes])]
            if self._leaf[nodes].all():
                break
        return nodes

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The forest's ``predict_proba`` (classifier) or ``predict`` (regressor) for ``x``."""
        values = self._value[self.leaves(x)]  # (trees, rows[, classes]), tree order kept
        # Added tree by tree, as scikit-learn does: an accumulation is sequential by
        # definition, where a sum may add pairwise and round differently.
        total: np.ndarray = np.add.accumulate(values, axis=0)[-1] / len(self._roots)
        return total


def _probe_rows(trees: list[Any], n_features: int, seed: int = 0) -> np.ndarray:
    """Rows on and around the forest's own thresholds, to reach many leaves of every tree."""
    rng = np.random.default_rng(seed)
    feature = np.concatenate([tree.feature for tree in trees])
    threshold = np.concatenate([tree.threshold for tree in trees])
    rows = np.zeros((_PROBE_ROWS, n_features), dtype=np.float64)
    for j in range(n_features):
        pool = threshold[feature == j]
        on = rng.choice(pool if len(pool) else np.zeros(1), _PROBE_ROWS).astype(np.float32)
        below = np.nextafter(on, np.float32(-np.inf))
        above = np.nextafter(on, np.float32(np.inf))
        rows[:, j] = np.choose(rng.integers(0, 3, _PROBE_ROWS), [below, on, above])
    return rows


def compile_forest(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A drop-in for ``model.predict_proba`` (or ``predict``) on matrices, or None.

    None unless ``model`` is a fitted scikit-learn random forest or extra-trees
    forest with one output whose flat walk gives scikit-learn's answers
    bit for bit on the probe rows.
    """
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if kind not in _FORESTS or getattr(model, "n_outputs_", None) != 1:
        return None
    n_features = getattr(model, "n_features_in_", None)
    estimators = getattr(model, "estimators_", None)
    if not isinstance(n_features, int) or not estimators:
        return None
    classifier = kind.endswith("Classifier")
    try:
        trees = [e.tree_ for e in estimators]
        flat = FlatForest(trees, n_features, classifier)
        probe = _probe_rows(trees, n_features)
        reference = model.predict_proba(probe) if classifier else model.predict(probe)
        x = probe.astype(np.float32)
        same = np.array_equal(flat.predict(x), reference) and all(
            np.array_equal(flat.predict(x[i : i + 1]), reference[i : i + 1]) for i in range(32)
        )
    except Exception as exc:  # an estimator layout this module does not know
        log.info("forest not compiled (%s): %s", kind, exc)
        return None
    if not same:
        log.info("forest not compiled (%s): flat walk differs from scikit-learn", kind)
        return None
    fallback = model.predict_proba if classifier else model.predict

    def predict(features: np.ndarray) -> np.ndarray:
        if features.ndim == 2 and features.shape[0] <= MAX_ROWS:
            x = features.astype(np.float32)
            if x.shape[1] == n_features and np.isfinite(x).all():
                return flat.predict(x)
        return fallback(features)  # type: ignore[no-any-return]

    return predict
