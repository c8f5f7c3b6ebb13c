"""scikit-learn estimators and pipelines, saved with skops: loading never runs pickle.

skops refuses types it does not know unless they are trusted. The trusted
list is mlstage's vetted scikit-learn list plus the ``model_trusted_types``
setting, never anything the model's files or its logger declare.

A random or extra-trees forest also gets ``forest.npz``, its trees as plain
arrays (``models.forest``), written only after the arrays gave the model's
own answers bit for bit: ``load_model`` predicts from them at once and
rebuilds the scikit-learn object only when it is needed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.models.flavors.skops_defaults import default_names, import_skops_io
from mlstage.models.manifest import FlavorName, ModelManifest

if TYPE_CHECKING:
    from mlstage.models.forest import FlatForest

MODEL_FILE = "model.skops"

# Types scikit-learn itself uses inside fitted estimators that skops does not
# trust out of the box: tree structures, gradient-boosting predictors, losses.
VETTED_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogLink",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn.ensemble._gb.VerboseReporter",
    "sklearn.utils._bunch.Bunch",
    "numpy.random._mt19937.MT19937",
    "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "builtins.slice",
    # XGBoost and LightGBM through their scikit-learn API. Their estimators are plain
    # attribute holders like scikit-learn's; each booster rebuilds itself in __setstate__
    # from its library's own model format (XGBoost's binary/UBJSON buffer, LightGBM's model
    # text), parsed by the library's native code: no pickle, no Python code named by the
    # file. A crafted booster can at worst make that parser fail or misbehave, the same
    # exposure as scikit-learn's Tree above, behind the same sha256 check of the registry.
    "collections.OrderedDict",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRanker",
    "xgboost.sklearn.XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
)


class SklearnFlavor:
    name: FlavorName = "sklearn"

    def save(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any] | None]:
        from mlstage.models.forest import FOREST_FILE, verified_forest

        skops_io = import_skops_io()
        files = {MODEL_FILE: skops_io.dumps(model)}
        flat = verified_forest(model)
        if flat is not None:
            files[FOREST_FILE] = flat.to_bytes()
        return files, None

    def logged_forest(
        self, files: dict[str, bytes], manifest: ModelManifest, settings: Settings
    ) -> FlatForest | None:
        """The forest's flat arrays, when a forest was logged with them (checked files).

        Only when skops would trust every type in ``model.skops`` as things stand:
        the object rebuilt later, on first use, is then the one ``load`` would
        give now, and a forest whose types an administrator does not trust is
        refused at load, as any other model.
        """
        from mlstage.models import forest

        data = files.get(forest.FOREST_FILE)
        if data is None or manifest.model_class not in forest.FORESTS:
            return None
        if not _all_types_trusted(files.get(MODEL_FILE, b""), settings):
            return None
        return forest.read_forest(data)

    def load(self, files: dict[str, bytes], manifest: ModelManifest, settings: Settings) -> Any:
        skops_io = import_skops_io()
        data = files.get(MODEL_FILE)
        if data is None:
            raise InvalidInput(f"the model has no {MODEL_FILE}; it is not a scikit-learn model")
        from skops.io.exceptions import UntrustedTypesFoundException

        trusted = set(VETTED_TYPES) | set(settings.model_trusted_types)
        try:
            # loads refuses untrusted types itself: the file is parsed once on success.
            return skops_io.loads(data, trusted=sorted(trusted))
        except UntrustedTypesFoundException:
            untrusted = [t for t in skops_io.get_untrusted_types(data=data) if t not in trusted]
        raise InvalidInput(
            f"the model file holds types that are not trusted: {', '.join(sorted(untrusted))}. "
            "If you trust them, an administrator can add them to the model_trusted_types "
            "setting"
        )


# Nodes that hold plain data (skops checks only what they contain), and those whose own type
# skops checks against its trusted names. Any other kind of node: the file is loaded at once.
_DATA_NODES = {"DictNode", "ListNode", "TupleNode", "JsonNode", "NdArrayNode"}
_TYPED_NODES = {"ObjectNode", "TreeNode", "TypeNode"}


def _all_types_trusted(data: bytes, settings: Settings) -> bool:
    """Whether every type named in a skops file's schema is trusted (read without skops)."""
    import json
    import zipfile

    trusted = default_names() | set(VETTED_TYPES) | set(settings.model_trusted_types)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        loader = node.get("__loader__")
        if loader is not None:
            name = f"{node.get('__module__')}.{node.get('__class__')}"
            if loader in _TYPED_NODES:
                if name not in trusted:
                    return False
            elif loader not in _DATA_NODES:
                return False
        pending.extend(v for v in node.values() if isinstance(v, dict | list))
    return True
