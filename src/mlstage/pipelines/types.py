"""What a step may take and return: the kinds of value mlstage stores, and type compatibility.

A step's outputs go to the artifact store, so each declared return type must
have a serializer that needs no pickle: DataFrames (Parquet), NumPy arrays
(.npy without objects), scikit-learn estimators (skops, the model format of
``mlstage.models``) and JSON-able values. Anything else is refused when the
pipeline is defined. Classification goes by module and class name, so this
module imports neither pandas, NumPy nor scikit-learn.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

Kind = Literal["json", "dataframe", "ndarray", "sklearn", "none"]

JSON_SCALARS: tuple[type, ...] = (int, float, str, bool)
SUPPORTED = (
    "pandas.DataFrame, numpy.ndarray, a scikit-learn estimator, None, or a JSON-able type "
    "(int, float, str, bool, list[...], dict[str, ...])"
)


def type_name(annotation: Any) -> str:
    """A short readable name: ``DataFrame``, ``list[int]``, ``LogisticRegression``."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        return "Any"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _mro_names(cls: type) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in getattr(cls, "__mro__", (cls,))}


def _is_dataframe(cls: Any) -> bool:
    return isinstance(cls, type) and any(
        n.startswith("pandas.") and n.endswith(".DataFrame") for n in _mro_names(cls)
    )


def _is_ndarray(cls: Any) -> bool:
    origin = typing.get_origin(cls) or cls
    return isinstance(origin, type) and "numpy.ndarray" in _mro_names(origin)


def _is_sklearn(cls: Any) -> bool:
    return isinstance(cls, type) and "sklearn.base.BaseEstimator" in _mro_names(cls)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _is_json(annotation: Any) -> bool:
    if annotation in JSON_SCALARS or annotation is type(None):
        return True
    if annotation in (list, dict):
        return True
    if _is_union(annotation):
        return all(_is_json(a) for a in typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list:
        return all(_is_json(a) for a in args)
    if origin is dict:  # dict[str, Any]: values are checked when stored
        return len(args) == 2 and args[0] is str and (args[1] is Any or _is_json(args[1]))
    if origin is Literal:
        return all(isinstance(a, JSON_SCALARS) or a is None for a in args)
    return False


def kind_of(annotation: Any) -> Kind | None:
    """The serializer kind for values of ``annotation``, or None when mlstage cannot store them."""
    if annotation is None or annotation is type(None):
        return "none"
    if _is_dataframe(annotation):
        return "dataframe"
    if _is_ndarray(annotation):
        return "ndarray"
    if _is_sklearn(annotation):
        return "sklearn"
    if _is_json(annotation):
        return "json"
    return None


def compatible(produced: Any, expected: Any) -> bool:
    """Whether a value of type ``produced`` may be passed where ``expected`` is declared."""
    if expected is Any or expected is object or produced == expected:
        return True
    if _is_union(produced):
        return all(compatible(p, expected) for p in typing.get_args(produced))
    if _is_union(expected):
        return any(compatible(produced, e) for e in typing.get_args(expected))
    if produced is int and expected is float:  # the numeric tower (PEP 484)
        return True
    p_origin, e_origin = typing.get_origin(produced), typing.get_origin(expected)
    if p_origin is Literal:
        return all(compatible(type(a), expected) for a in typing.get_args(produced))
    p_base, e_base = p_origin or produced, e_origin or expected
    if not (isinstance(p_base, type) and isinstance(e_base, type)):
        return False
    if not issubclass(p_base, e_base):
        return False
    p_args, e_args = typing.get_args(produced), typing.get_args(expected)
    if not p_args or not e_args or len(p_args) != len(e_args) or p_base is _ndarray_origin(p_base):
        return True
    return all(compatible(p, e) for p, e in zip(p_args, e_args, strict=True))


def _ndarray_origin(cls: type) -> type | None:
    return cls if "numpy.ndarray" in _mro_names(cls) else None


def value_matches(value: Any, annotation: Any) -> bool:
    """A loose run-time check of a value against its declared type (top level only)."""
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if _is_union(annotation):
        return any(value_matches(value, a) for a in typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation)
    base = origin or annotation
    if base is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(base, type) and isinstance(value, base)
