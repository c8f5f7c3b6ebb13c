"""A scikit-learn forest's trees as flat arrays, walked for every tree at once.

A forest's ``predict_proba`` on one row calls each tree in turn (through
joblib): a hundred Python calls, input checks and GIL hand-offs for a
hundred lookups, about 10 ms for a hundred trees where the lookups
themselves take microseconds. For the small batches a prediction service
sees, ``FlatForest`` walks all trees of all rows together, one NumPy step
per tree level, as Triton's forest backend and Hummingbird do. Its answers
are scikit-learn's to the last bit: the same float32 input, the same
``<=`` against the same float64 thresholds, the same leaf values summed
tree by tree in the same order, the same division. ``verified_forest``
checks that on probe rows built from the forest's own thresholds, and gives
``None`` (use scikit-learn) for anything else. Inputs with NaN or infinity,
and large batches (where scikit-learn's per-tree loop is as fast), go to
scikit-learn unchanged.

Two users: a prediction service (``compile_forest``, checked when the
version loads), and ``load_model``, which predicts from the ``forest.npz``
logged beside a verified forest without importing scikit-learn at all, and
rebuilds the scikit-learn object only when it is asked for.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAX_ROWS = 128
"""Batches up to this many rows are walked flat; larger ones go to scikit-learn."""
_PROBE_ROWS = 256

FORESTS = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
    }
)


FOREST_FILE = "forest.npz"
"""The forest's trees as plain arrays, written beside ``model.skops`` when a forest is logged."""

_ARRAYS = (
    "node_count", "depth", "feature", "threshold", "left", "right", "value", "classes", "names"
)  # fmt: skip


class FlatForest:
    """Every node of every tree in five arrays; node ``i``'s children at ``2i`` and ``2i+1``.

    Built from the trees' own arrays, concatenated tree after tree: ``feature``,
    ``threshold``, ``left`` and ``right`` (children, numbered within their tree;
    negative at a leaf), ``value`` (per node: class fractions, or the regression
    value), with each tree's node count and depth.
    """

    def __init__(self, arrays: dict[str, np.ndarray], n_features: int, classifier: bool) -> None:
        sizes = arrays["node_count"].astype(np.intp)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        own_tree = np.repeat(offsets, sizes)
        feature = arrays["feature"].astype(np.intp)
        leaf = feature < 0
        own = np.arange(len(feature), dtype=np.intp)
        # A leaf leads to itself, so walking past a shallow tree's depth changes nothing.
        children = np.empty((len(feature), 2), dtype=np.intp)
        children[:, 0] = np.where(leaf, own, arrays["left"].astype(np.intp) + own_tree)
        children[:, 1] = np.where(leaf, own, arrays["right"].astype(np.intp) + own_tree)
        self.arrays = arrays
        self._children = children.reshape(-1)
        self._feature = np.where(leaf, 0, feature)
        self._threshold = arrays["threshold"].astype(np.float64)
        self._leaf = leaf
        self._roots = offsets
        self._depth = int(arrays["depth"].max())
        self._value = arrays["value"]
        self.n_features = n_features
        self.classifier = classifier
        self.feature_names = [str(name) for name in arrays["names"]]
        """The column names the forest was fitted with, in order; [] when fitted on a matrix."""
        classes = arrays["classes"]
        # String labels: scikit-learn keeps them in an array of objects, which the file cannot
        # hold without pickle; written as text, given back as objects.
        self.classes = classes.astype(object) if classes.dtype.kind == "U" else classes

    @classmethod
    def from_trees(cls, model: Any, trees: list[Any], classifier: bool) -> FlatForest:
        n_classes = int(trees[0].n_classes[0]) if classifier else 1
        value = [t.value[:, 0, :n_classes] if classifier else t.value[:, 0, 0] for t in trees]
        arrays = {
            "node_count": np.array([t.node_count for t in trees], dtype=np.int64),
            "depth": np.array([t.max_depth for t in trees], dtype=np.int64),
            "feature": np.concatenate([t.feature for t in trees]).astype(np.int64),
            "threshold": np.concatenate([t.threshold for t in trees]).astype(np.float64),
            "left": np.concatenate([t.children_left for t in trees]).astype(np.int64),
            "right": np.concatenate([t.children_right for t in trees]).astype(np.int64),
            "value": np.concatenate(value).astype(np.float64),
            "classes": _plain_classes(model.classes_) if classifier else np.zeros(0),
            "names": np.asarray(getattr(model, "feature_names_in_", []), dtype=str),
        }
        return cls(arrays, int(model.n_features_in_), classifier)

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

    def labels(self, x: np.ndarray) -> np.ndarray:
        """The forest's ``predict``: for a classifier, the most probable class (first on ties)."""
        if not self.classifier:
            return self.predict(x)
        chosen: np.ndarray = self.classes.take(np.argmax(self.predict(x), axis=1), axis=0)
        return chosen

    def to_bytes(self) -> bytes:
        """The ``forest.npz`` file: the trees' arrays (no Python objects) and the forest's shape."""
        import io

        out = io.BytesIO()
        shape = np.array([self.n_features, int(self.classifier)], dtype=np.int64)
        np.savez(out, allow_pickle=False, shape=shape, **self.arrays)
        return out.getvalue()


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


def _plain_classes(classes: Any) -> np.ndarray:
    """A classifier's labels as an array a ``.npz`` holds without pickle (numbers or text)."""
    labels = np.asarray(classes)
    if labels.dtype.kind in "biufU":
        return labels
    if labels.dtype.kind == "O" and all(type(c) is str for c in labels):
        return labels.astype(str)
    raise ValueError(f"labels of dtype {labels.dtype} are kept by scikit-learn only")


def verified_forest(model: Any) -> FlatForest | None:
    """``model`` as a FlatForest, or None.

    None unless ``model`` is a fitted scikit-learn random forest or extra-trees
    forest with one output whose flat walk gives scikit-learn's answers
    bit for bit on the probe rows, in a batch and one row at a time.
    """
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if kind not in FORESTS or getattr(model, "n_outputs_", None) != 1:
        return None
    n_features = getattr(model, "n_features_in_", None)
    estimators = getattr(model, "estimators_", None)
    if not isinstance(n_features, int) or not estimators:
        return None
    classifier = kind.endswith("Classifier")
    try:
        trees = [e.tree_ for e in estimators]
        flat = FlatForest.from_trees(model, trees, classifier)
        probe = _probe_rows(trees, n_features)
        with warnings.catch_warnings():  # a forest fitted on a DataFrame, probed with a matrix
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
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
    return flat


def compile_forest(
    model: Any, logged: FlatForest | None = None
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A drop-in for ``model.predict_proba`` (or ``predict``) on matrices, or None.

    The flat walk for batches it takes, the model's own call for the rest.
    The walk is ``logged`` (the arrays ``load_model`` read, verified when the
    model was logged) or else ``verified_forest(model)``.
    """
    flat = logged if logged is not None else verified_forest(model)
    if flat is None:
        return None
    fallback = model.predict_proba if flat.classifier else model.predict

    def predict(features: np.ndarray) -> np.ndarray:
        x = walkable(flat, features)
        return flat.predict(x) if x is not None else fallback(features)

    return predict


def walkable(flat: FlatForest, features: Any) -> np.ndarray | None:
    """``features`` as the float32 matrix the flat walk takes, or None where scikit-learn answers.

    A NumPy matrix of the forest's width (or a DataFrame of float columns named
    as the forest's features, in order), of at most MAX_ROWS rows, all finite
    (NaN follows scikit-learn's own missing-value rules), cast to float32 as
    scikit-learn casts it.
    """
    if _float_frame_in_order(flat, features):
        features = np.asarray(features, dtype=np.float32)  # scikit-learn's own conversion
    if not isinstance(features, np.ndarray) or features.ndim != 2:
        return None
    if features.shape[0] > MAX_ROWS or features.shape[1] != flat.n_features:
        return None
    if features.dtype.kind not in "fiub":
        return None
    x = features.astype(np.float32)
    return x if np.isfinite(x).all() else None


def _float_frame_in_order(flat: FlatForest, features: Any) -> bool:
    columns = getattr(features, "columns", None)
    dtypes = getattr(features, "dtypes", None)
    if columns is None or dtypes is None or not flat.feature_names:
        return False
    if list(columns) != flat.feature_names:
        return False
    return all(getattr(dtype, "kind", "") == "f" for dtype in dtypes)


def read_forest(data: bytes) -> FlatForest:
    """A ``forest.npz`` back as a FlatForest; ``InvalidInput`` unless every array is in shape.

    The file was hash-checked against the registry before this; the checks
    here keep a malformed one from indexing outside its own arrays.
    """
    import io
    import zipfile

    from mlstage.errors import InvalidInput

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in _ARRAYS}
            shape = archive["shape"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{FOREST_FILE} is not a forest file: {exc}") from exc
    problem = _forest_problem(arrays, shape)
    if problem:
        raise InvalidInput(f"{FOREST_FILE} is malformed: {problem}")
    return FlatForest(arrays, int(shape[0]), bool(shape[1]))


def _forest_problem(arrays: dict[str, np.ndarray], shape: np.ndarray) -> str:
    """What is wrong with a forest file's arrays, or ''."""
    if shape.shape != (2,) or shape.dtype.kind != "i" or shape[0] < 1 or shape[1] not in (0, 1):
        return "shape must be [features, classifier]"
    sizes, n = arrays["node_count"], len(arrays["feature"])
    ints = ("node_count", "depth", "feature", "left", "right")
    if any(arrays[k].dtype.kind != "i" or arrays[k].ndim != 1 for k in ints):
        return "node arrays must be one-dimensional integers"
    if not len(sizes) or len(arrays["depth"]) != len(sizes) or sizes.min() < 1 or sizes.sum() != n:
        return "node counts do not add up to the nodes"
    if any(len(arrays[k]) != n for k in ("threshold", "left", "right", "value")):
        return "every node array must have one entry per node"
    if arrays["threshold"].dtype.kind != "f" or arrays["value"].dtype.kind != "f":
        return "thresholds and values must be floats"
    if arrays["depth"].min() < 0 or arrays["depth"].max() >= n:
        return "tree depths out of range"
    split = arrays["feature"] >= 0
    if (arrays["feature"][split] >= shape[0]).any():
        return "a node splits on a feature the forest does not have"
    local = np.repeat(sizes, sizes)
    for side in ("left", "right"):
        child = arrays[side][split]
        if (child < 1).any() or (child >= local[split]).any():
            return f"a {side} child lies outside its tree"
    classifier = bool(shape[1])
    width = len(arrays["classes"])
    if classifier and (arrays["value"].ndim != 2 or arrays["value"].shape[1] != width or not width):
        return "class values must have one column per class"
    if not classifier and arrays["value"].ndim != 1:
        return "regression values must be one per node"
    if arrays["classes"].dtype.kind not in "biufU":
        return "classes must be numbers or text"
    names = arrays["names"]
    if names.ndim != 1 or len(names) not in (0, shape[0]) or names.dtype.kind != "U":
        return "feature names must be text, one per feature"
    return ""
