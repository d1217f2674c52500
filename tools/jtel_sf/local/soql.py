"""A SOQL subset over the local store, with Salesforce's error shapes.

``SELECT field, ... | COUNT() FROM Type [WHERE cond] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]``. Fields may be parent relationships (``Call__r.CallKey__c``, ``Owner.Name``);
conditions are ``field op value`` (=, !=, <>, <, <=, >, >=, LIKE, IN (...), NOT IN (...)) joined by
AND, OR, NOT and parentheses. Values: 'strings', numbers, true/false, null, date and dateTime
literals. As in SOQL, text compares case-insensitively, Ids of 15 and 18 characters match, and names
of types and fields are case-insensitive. Rules and error texts follow the SOQL and SOSL Reference
and the REST API Developer Guide (built from that documentation, not recorded from Salesforce).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from jtel_sf.engine.ids import to_18

from . import schema

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
KEYWORDS = frozenset(
    {"select", "from", "where", "and", "or", "not", "order", "by", "asc", "desc", "nulls", "first", "last"}
    | {"limit", "offset", "in", "like", "true", "false", "null", "count"}
)
_REFERENCE = "Please reference your WSDL or the describe call for the appropriate names."
MAX_LIMIT = 50000


class SoqlError(Exception):
    """A query Salesforce would refuse: ``errorCode`` and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_body(self) -> list[dict[str, str]]:
        return [{"message": self.message, "errorCode": self.code}]


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int  # 1-based, as in Salesforce's "ERROR at Row:1:Column:n"

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.lower() in words


def _pointer(soql: str, column: int) -> str:
    return f"\n{soql}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n"


def tokenize(soql: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", _pointer(soql, pos + 1) + f"unexpected token: '{soql[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class Condition:
    op: str  # and / or / not / compare
    parts: tuple[Any, ...]


@dataclass
class Query:
    sobject: schema.SObjectType
    fields: list[tuple[str, ...]]  # canonical paths: ("Name",), ("Call__r", "CallKey__c")
    count: bool
    where: Condition | None
    order: list[tuple[tuple[str, ...], bool, bool]]  # path, descending, nulls last
    limit: int | None
    offset: int


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.pos = 0
        self.sobject: schema.SObjectType | None = None

    # -- tokens -------------------------------------------------------------------------------
    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError(
                "MALFORMED_QUERY", _pointer(self.soql, len(self.soql) + 1) + "unexpected end of query"
            )
        self.pos += 1
        return token

    def unexpected(self, token: Token | None) -> SoqlError:
        if token is None:
            return SoqlError(
                "MALFORMED_QUERY", _pointer(self.soql, len(self.soql) + 1) + "unexpected end of query"
            )
        return SoqlError(
            "MALFORMED_QUERY", _pointer(self.soql, token.column) + f"unexpected token: '{token.text}'"
        )

    def expect_word(self, *words: str) -> Token:
        token = self.peek()
        if token is None or not token.is_word(*words):
            raise self.unexpected(token)
        return self.take()

    def expect_op(self, text: str) -> Token:
        token = self.peek()
        if token is None or token.kind != "op" or token.text != text:
            raise self.unexpected(token)
        return self.take()

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect_word("select")
        raw_fields: list[Token] = []
        count = False
        first = self.peek()
        after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if first is not None and first.is_word("count") and after is not None and after.text == "(":
            self.take()
            self.expect_op("(")
            self.expect_op(")")
            count = True
        else:
            while True:
                token = self.take()
                if token.kind != "ident" or token.text.lower() in KEYWORDS:
                    raise self.unexpected(token)
                raw_fields.append(token)
                nxt = self.peek()
                if nxt is not None and nxt.kind == "op" and nxt.text == ",":
                    self.take()
                    continue
                break
        self.expect_word("from")
        type_token = self.take()
        if type_token.kind != "ident" or "." in type_token.text:
            raise self.unexpected(type_token)
        sobject = schema.find_type(type_token.text)
        if sobject is None:
            raise SoqlError(
                "INVALID_TYPE",
                _pointer(self.soql, type_token.column)
                + f"sObject type '{type_token.text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. " + _REFERENCE,
            )
        self.sobject = sobject
        fields = [self.path(token) for token in raw_fields]
        where = None
        order: list[tuple[tuple[str, ...], bool, bool]] = []
        limit = None
        offset = 0
        if self.peek() is not None and self.peek().is_word("where"):  # type: ignore[union-attr]
            self.take()
            where = self.condition()
        if self.peek() is not None and self.peek().is_word("order"):  # type: ignore[union-attr]
            self.take()
            self.expect_word("by")
            while True:
                token = self.take()
                if token.kind != "ident" or token.text.lower() in KEYWORDS:
                    raise self.unexpected(token)
                descending = False
                nulls_last: bool | None = None
                if self.peek() is not None and self.peek().is_word("asc", "desc"):  # type: ignore[union-attr]
                    descending = self.take().text.lower() == "desc"
                if self.peek() is not None and self.peek().is_word("nulls"):  # type: ignore[union-attr]
                    self.take()
                    nulls_last = self.expect_word("first", "last").text.lower() == "last"
                # SOQL: nulls first for ascending, last for descending, unless told
                order.append((self.path(token), descending, descending if nulls_last is None else nulls_last))
                nxt = self.peek()
                if nxt is not None and nxt.kind == "op" and nxt.text == ",":
                    self.take()
                    continue
                break
        if self.peek() is not None and self.peek().is_word("limit"):  # type: ignore[union-attr]
            self.take()
            limit = self.integer()
        if self.peek() is not None and self.peek().is_word("offset"):  # type: ignore[union-attr]
            self.take()
            offset = self.integer()
        if self.peek() is not None:
            raise self.unexpected(self.peek())
        return Query(sobject, fields, count, where, order, limit, offset)

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text)

    def path(self, token: Token) -> tuple[str, ...]:
        """Canonical names along a (relationship) path; INVALID_FIELD when a name is unknown."""
        assert self.sobject is not None
        names = token.text.split(".")
        current = self.sobject
        result: list[str] = []
        for index, name in enumerate(names):
            last = index == len(names) - 1
            if last:
                found = schema.find_field(current, name)
                if found is None:
                    raise self.invalid_field(token, name, current.name)
                result.append(found.name)
            else:
                ref = schema.relationship(current, name)
                if ref is None or not ref.reference_to:
                    raise SoqlError(
                        "INVALID_FIELD",
                        _pointer(self.soql, token.column)
                        + f"Didn't understand relationship '{name}' in field path. If you are attempting to "
                        "use a custom relationship, be sure to append the '__r' after the custom "
                        "relationship name. " + _REFERENCE,
                    )
                result.append(str(ref.relationship_name))
                target = schema.find_type(ref.reference_to[0])
                assert target is not None
                current = target
        return tuple(result)

    def invalid_field(self, token: Token, name: str, sobject: str) -> SoqlError:
        return SoqlError(
            "INVALID_FIELD",
            _pointer(self.soql, token.column)
            + f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name. " + _REFERENCE,
        )

    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while self.peek() is not None and self.peek().is_word("or"):  # type: ignore[union-attr]
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Condition("or", tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.unary()]
        while self.peek() is not None and self.peek().is_word("and"):  # type: ignore[union-attr]
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Condition("and", tuple(parts))

    def unary(self) -> Condition:
        token = self.peek()
        if token is not None and token.is_word("not"):
            self.take()
            return Condition("not", (self.unary(),))
        if token is not None and token.kind == "op" and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        token = self.take()
        if token.kind != "ident" or token.text.lower() in KEYWORDS:
            raise self.unexpected(token)
        path = self.path(token)
        op_token = self.take()
        if op_token.kind == "op" and op_token.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            op = "!=" if op_token.text == "<>" else op_token.text
            return Condition("compare", (path, op, self.value()))
        if op_token.is_word("like"):
            value = self.value()
            if not isinstance(value, str):
                raise self.unexpected(self.tokens[self.pos - 1])
            return Condition("compare", (path, "like", value))
        negate = False
        if op_token.is_word("not"):
            negate = True
            op_token = self.take()
        if op_token.is_word("in"):
            self.expect_op("(")
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values.append(self.value())
            self.expect_op(")")
            return Condition("compare", (path, "not in" if negate else "in", tuple(values)))
        raise self.unexpected(op_token)

    def value(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), token.text[1:-1])
        if token.kind == "number":
            return float(token.text)
        if token.kind == "datetime":
            return _instant(token.text)
        if token.kind == "date":
            return date.fromisoformat(token.text)
        if token.is_word("true", "false"):
            return token.text.lower() == "true"
        if token.is_word("null"):
            return None
        raise self.unexpected(token)


def parse(soql: str) -> Query:
    return _Parser(soql).parse()


def _instant(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


# -- evaluation -----------------------------------------------------------------------------------


class Records:
    """What evaluation needs from the store: records of a type and a record by Id."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._by_id: dict[str, tuple[str, dict[str, Any]] | None] = {}

    def of_type(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.store.all(sobject))

    def by_id(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        if record_id not in self._by_id:
            self._by_id[record_id] = self.store.get(record_id)
        return self._by_id[record_id]


def _resolve(
    records: Records, sobject: schema.SObjectType, record: dict[str, Any], path: tuple[str, ...]
) -> Any:
    current_type, current = sobject, record
    for name in path[:-1]:
        ref = schema.relationship(current_type, name)
        target_id = current.get(ref.name) if ref else None
        if not target_id:
            return None
        found = records.by_id(str(target_id))
        if found is None:
            return None
        current_type = schema.types()[found[0]]
        current = found[1]
    return current.get(path[-1])


def _comparable(field: schema.Field | None, stored: Any, literal: Any) -> tuple[Any, Any]:
    kind = field.type if field else "string"
    if stored is None or literal is None:
        return stored, literal
    if kind in ("id", "reference") and isinstance(literal, str):
        return (to_18(str(stored)) or str(stored)), (to_18(literal) or literal)
    if isinstance(literal, datetime):
        return _instant(str(stored)), literal
    if isinstance(literal, date):
        return date.fromisoformat(str(stored)[:10]), literal
    if isinstance(literal, bool):
        return bool(stored), literal
    if isinstance(literal, float):
        try:
            return float(stored), literal
        except (TypeError, ValueError):
            return None, literal
    return str(stored).lower(), str(literal).lower()


def _like(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, str(value), re.IGNORECASE | re.DOTALL) is not None


def _field_of(sobject: schema.SObjectType, path: tuple[str, ...]) -> schema.Field | None:
    current = sobject
    for name in path[:-1]:
        ref = schema.relationship(current, name)
        if ref is None:
            return None
        current = schema.types()[ref.reference_to[0]]
    return schema.find_field(current, path[-1])


def _matches(records: Records, query: Query, record: dict[str, Any], cond: Condition) -> bool:
    if cond.op == "and":
        return all(_matches(records, query, record, part) for part in cond.parts)
    if cond.op == "or":
        return any(_matches(records, query, record, part) for part in cond.parts)
    if cond.op == "not":
        return not _matches(records, query, record, cond.parts[0])
    path, op, literal = cond.parts
    stored = _resolve(records, query.sobject, record, path)
    field = _field_of(query.sobject, path)
    if op == "like":
        return _like(stored, literal)
    if op in ("in", "not in"):
        hit = any(
            _comparable(field, stored, item)[0] == _comparable(field, stored, item)[1] for item in literal
        )
        return (stored is not None and hit) if op == "in" else not hit
    left, right = _comparable(field, stored, literal)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _shape(
    records: Records,
    sobject: schema.SObjectType,
    record: dict[str, Any],
    paths: list[tuple[str, ...]],
    version: str,
) -> dict[str, Any]:
    def attrs(type_name: str, record_id: Any) -> dict[str, str]:
        return {"type": type_name, "url": f"/services/data/v{version}/sobjects/{type_name}/{record_id}"}

    result: dict[str, Any] = {"attributes": attrs(sobject.name, record.get("Id"))}
    for path in paths:
        if len(path) == 1:
            result[path[0]] = record.get(path[0])
            continue
        target = result
        current_type, current = sobject, record
        for name in path[:-1]:
            ref = schema.relationship(current_type, name)
            target_id = current.get(ref.name) if ref else None
            found = records.by_id(str(target_id)) if target_id else None
            if found is None:
                target[name] = None
                break
            current_type, current = schema.types()[found[0]], found[1]
            nested = target.get(name)
            if not isinstance(nested, dict):
                nested = {"attributes": attrs(current_type.name, current.get("Id"))}
                target[name] = nested
            target = nested
        else:
            target[path[-1]] = current.get(path[-1])
    return result


def run(store: Any, soql: str, version: str) -> dict[str, Any]:
    """The Query resource's body for ``soql`` (every record in one page: ``done`` is true)."""
    query = parse(soql)
    records = Records(store)
    found = [
        r
        for r in records.of_type(query.sobject.name)
        if query.where is None or _matches(records, query, r, query.where)
    ]
    for path, descending, nulls_last in reversed(query.order):  # stable sorts: last key first

        def key(
            record: dict[str, Any],
            path: tuple[str, ...] = path,
            nulls_last: bool = nulls_last,
            desc: bool = descending,
        ) -> tuple[Any, ...]:
            value = _resolve(records, query.sobject, record, path)
            if isinstance(value, str):
                value = value.lower()  # SOQL sorts text case-insensitively
            missing = value is None
            # a reversed sort turns the null marker around too
            return ((missing != nulls_last) if desc else (missing == nulls_last), "" if missing else value)

        try:
            found.sort(key=key, reverse=descending)
        except TypeError:  # mixed types in one field: compare as text
            found.sort(key=lambda r, key=key: tuple(str(part) for part in key(r)), reverse=descending)
    found = found[query.offset :]
    if query.limit is not None:
        found = found[: query.limit]
    if query.count:
        return {"totalSize": len(found), "done": True, "records": []}
    rows = [_shape(records, query.sobject, r, query.fields, version) for r in found]
    return {"totalSize": len(rows), "done": True, "records": rows}


def _column(name: str, display: str, joins: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "aggregate": False,
        "apexType": None,
        "booleanType": False,
        "columnName": name,
        "custom": name.endswith(("__c", "__r")),
        "displayName": display,
        "foreignKeyName": None,
        "insertable": False,
        "joinColumns": joins or [],
        "numberType": False,
        "textType": False,
        "updatable": False,
    }


def columns(soql: str) -> dict[str, Any]:
    """The query's columns (``query?q=...&columns=true``), the shape the sf CLI's ``data query`` reads
    (forcedotcom/plugin-data ``retrieveColumns``): a relationship field is a column of its
    relationship with the field in ``joinColumns``."""
    query = parse(soql)
    result: list[dict[str, Any]] = []
    by_relationship: dict[str, dict[str, Any]] = {}
    for path in query.fields:
        if len(path) == 1:
            result.append(_column(path[0], path[0]))
            continue
        parent = by_relationship.get(path[0])
        if parent is None:
            parent = by_relationship[path[0]] = _column(path[0], path[0])
            result.append(parent)
        target = parent
        for depth, name in enumerate(path[1:], start=2):
            display = ".".join(path[:depth])
            found = next((c for c in target["joinColumns"] if c["columnName"] == name), None)
            if found is None:
                found = _column(name, display)
                target["joinColumns"].append(found)
            target = found
    if query.count:
        result.append({**_column("expr0", "COUNT()"), "aggregate": True})
    return {
        "columnMetadata": result,
        "entityName": query.sobject.name,
        "groupBy": False,
        "idSelected": ("Id",) in query.fields,
        "keyPrefix": query.sobject.key_prefix,
    }
