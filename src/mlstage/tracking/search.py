"""The run-search grammar: parsed into clauses here, compiled to SQL by the SQL store.

    filter   := clause ("and" clause)*
    clause   := entity comparator value
    entity   := ("metrics" | "params" | "tags" | "attributes") "." key
    key      := name | `quoted name` | "quoted name"
    value    := number | 'string' | "string" | "(" string ("," string)* ")"
    order_by := entity ["ASC" | "DESC"]

Keywords are case-insensitive; ``metric``, ``param``, ``tag`` and ``attr``
are accepted too. A parse error points at the offending token. Values never
reach SQL as text: the store binds them as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlstage.errors import InvalidInput

Kind = Literal["metric", "param", "tag", "attribute"]

MAX_FILTER_LENGTH = 10_000
MAX_CLAUSES = 50

_KINDS: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
STRING_ATTRIBUTES = {"run_id", "run_name", "status", "user", "git_commit", "experiment_id"}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_ATTRIBUTE_ALIASES = {"name": "run_name", "id": "run_id"}
NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<entity>[A-Za-z_]+\.(?:`[^`]*`|"[^"]*"|[A-Za-z0-9_\-.:/]+))
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>>=|<=|!=|==|=|>|<)
  | (?P<word>[A-Za-z]+)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    kind: Kind
    key: str
    op: str
    value: float | str | tuple[str, ...]


@dataclass(frozen=True)
class OrderBy:
    kind: Kind
    key: str
    ascending: bool


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str, what: str = "filter") -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(text, pos, f"unexpected character {text[pos]!r}", what)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _error(text: str, pos: int, problem: str, what: str = "filter") -> InvalidInput:
    return InvalidInput(f"invalid {what} at position {pos}: {problem}\n  {text}\n  {' ' * pos}^")


def _parse_entity(text: str, token: _Token) -> tuple[Kind, str]:
    prefix, _, key = token.text.partition(".")
    kind = _KINDS.get(prefix.lower())
    if kind is None:
        raise _error(
            text,
            token.pos,
            f"unknown entity {prefix!r}; use metrics., params., tags. or attributes.",
        )
    if key[:1] in '`"' and key[-1:] == key[:1]:
        key = key[1:-1]
    if not key:
        raise _error(text, token.pos, "empty key")
    if kind == "attribute":
        key = _ATTRIBUTE_ALIASES.get(key, key)
        if key not in STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES:
            known = ", ".join(sorted(STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES))
            raise _error(text, token.pos, f"unknown attribute {key!r}; known: {known}")
    return kind, key


def _unquote(token: _Token) -> str:
    quote = token.text[0]
    return token.text[1:-1].replace(quote * 2, quote)


def parse_filter(text: str | None) -> list[Clause]:
    """Parse a filter string into clauses joined by AND."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(f"filter is {len(text)} characters; the limit is {MAX_FILTER_LENGTH}")
    tokens = _tokenize(text)
    clauses: list[Clause] = []
    i = 0
    end = _Token("end", "", len(text))

    def peek(offset: int = 0) -> _Token:
        return tokens[i + offset] if i + offset < len(tokens) else end

    while True:
        token = peek()
        if token.kind != "entity":
            raise _error(
                text,
                token.pos,
                f"expected metrics.<key>, params.<key>, tags.<key> "
                f"or attributes.<name>, got {token.text or 'the end'!r}",
            )
        kind, key = _parse_entity(text, token)
        i += 1
        op_token = peek()
        op = op_token.text.upper()
        if op_token.kind == "word" and op == "NOT" and peek(1).text.upper() == "IN":
            op = "NOT IN"
            i += 1
        elif op_token.kind not in ("op", "word") or op not in {*NUMERIC_OPS, "==", *STRING_OPS}:
            raise _error(
                text,
                op_token.pos,
                f"expected a comparison operator, got {op_token.text or 'the end'!r}",
            )
        op = "=" if op == "==" else op
        i += 1
        numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
        allowed = NUMERIC_OPS if numeric else STRING_OPS
        if op not in allowed:
            raise _error(
                text,
                op_token.pos,
                f"operator {op} does not apply to {kind} {key!r}; use one of {', '.join(allowed)}",
            )
        value_token = peek()
        value: float | str | tuple[str, ...]
        if op in ("IN", "NOT IN"):
            value, i = _parse_list(text, tokens, i, end)
        elif numeric:
            if value_token.kind != "number":
                raise _error(
                    text,
                    value_token.pos,
                    f"{kind} {key!r} compares with a number, got {value_token.text or 'the end'!r}",
                )
            value = float(value_token.text)
            i += 1
        else:
            if value_token.kind != "string":
                raise _error(
                    text,
                    value_token.pos,
                    f"{kind} {key!r} compares with a quoted string, got "
                    f"{value_token.text or 'the end'!r}",
                )
            value = _unquote(value_token)
            i += 1
        clauses.append(Clause(kind, key, op, value))
        if len(clauses) > MAX_CLAUSES:
            raise _error(text, token.pos, f"a filter holds at most {MAX_CLAUSES} clauses")
        nxt = peek()
        if nxt is end:
            return clauses
        if nxt.kind == "word" and nxt.text.upper() == "AND":
            i += 1
            continue
        raise _error(
            text,
            nxt.pos,
            f"expected AND or the end of the filter, got {nxt.text!r}"
            + ("; OR is not supported" if nxt.text.upper() == "OR" else ""),
        )


def _parse_list(
    text: str, tokens: list[_Token], i: int, end: _Token
) -> tuple[tuple[str, ...], int]:
    def at(j: int) -> _Token:
        return tokens[j] if j < len(tokens) else end

    if at(i).text != "(":
        raise _error(text, at(i).pos, f"expected '(' to start a list, got {at(i).text!r}")
    i += 1
    items: list[str] = []
    while True:
        token = at(i)
        if token.kind != "string":
            raise _error(
                text,
                token.pos,
                f"expected a quoted string in the list, got {token.text or 'the end'!r}",
            )
        items.append(_unquote(token))
        i += 1
        sep = at(i)
        i += 1
        if sep.text == ")":
            return tuple(items), i
        if sep.text != ",":
            raise _error(text, sep.pos, f"expected ',' or ')', got {sep.text or 'the end'!r}")


def parse_order_by(items: list[str] | None) -> list[OrderBy]:
    """Parse ``["metrics.auc DESC", "attributes.start_time"]``."""
    result: list[OrderBy] = []
    for item in items or []:
        if not isinstance(item, str):
            raise InvalidInput(f"order_by entries must be strings, got {item!r}")
        tokens = _tokenize(item, "order_by")
        if not tokens or tokens[0].kind != "entity":
            raise InvalidInput(
                f"invalid order_by {item!r}: expected metrics.<key>, params.<key>, tags.<key> "
                "or attributes.<name>, then ASC or DESC"
            )
        kind, key = _parse_entity(item, tokens[0])
        ascending = True
        if len(tokens) == 2 and tokens[1].text.upper() in ("ASC", "DESC"):
            ascending = tokens[1].text.upper() == "ASC"
        elif len(tokens) != 1:
            raise InvalidInput(f"invalid order_by {item!r}: only ASC or DESC may follow the key")
        result.append(OrderBy(kind, key, ascending))
    if len(result) > 10:
        raise InvalidInput(f"order_by holds at most 10 keys, got {len(result)}")
    return result
