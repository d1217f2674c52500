"""Reading a request body: UTF-8 JSON, validation against the field spec, normalisation, row key.

Pure functions, no I/O. The rules are docs/contract.md "Reading the body" and "The row key";
the fields come from ``fields.json`` through :func:`jtel_sf.contract.load_fields`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jtel_sf.contract import FieldSpec, load_fields, load_limits, load_outcomes

# ASCII digits only, whole text (fullmatch: Python's "$" would also accept a trailing newline).
_INTEGER_RE = re.compile(r"-?[0-9]+")
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
)
_DIGITS_RE = re.compile(r"[0-9]+")
_WHITESPACE = b" \t\r\n"
# Integers with more digits than this are out of range for every field (the largest max has 18).
_MAX_INTEGER_DIGITS = 40

Value = int | str | datetime | None


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Row:
    """A valid row: the normalised values of the 17 fields (absent = None) and its row key.

    Integers are ``int``, date-times naive local wall-clock ``datetime`` (milliseconds), text
    ``str`` (CallerID already normalised).
    """

    values: dict[str, Value]
    row_key: str
    raw: str  # the element as received (the stored RawPayload__c)

    @property
    def call_id(self) -> int:
        value = self.values[call_id_field().name]
        assert isinstance(value, int)
        return value

    def get(self, name: str) -> Value:
        return self.values.get(name)


@dataclass(frozen=True)
class Invalid:
    """An element (or the whole body) that broke rules; errors in field-spec order."""

    errors: tuple[FieldError, ...]
    raw: str
    call_id: int | None = None


@dataclass(frozen=True)
class ParsedBody:
    """The result of reading the raw body.

    ``body_error`` set: the body as a whole is invalid (nothing else is set).
    ``too_large``: an array longer than maxBatchSize.
    Otherwise ``elements`` holds one entry (``is_batch`` False) or the array's elements.
    """

    is_batch: bool = False
    elements: tuple[Row | Invalid, ...] = ()
    body_error: Invalid | None = None
    too_large: bool = False
    size: int = 0


def error_message(code: str) -> str:
    return str(load_outcomes().error_codes[code])


def _err(name: str | None, code: str, detail: str | None = None) -> FieldError:
    text = error_message(code)
    if detail:
        text = f"{name}: {detail}" if name else detail
    elif name:
        text = f"{name}: {text}"
    return FieldError(name, code, text)


def call_id_field() -> FieldSpec:
    for spec in load_fields():
        if spec.required and spec.kind == "integer":
            return spec
    raise LookupError("fields.json has no required integer field (the call id)")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def loads(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, numbers with a fraction or exponent as Decimal."""
    return json.loads(text, parse_float=Decimal, parse_int=_parse_int, parse_constant=_reject_constant)


def _parse_int(text: str) -> int | Decimal:
    # Very long integers stay Decimal (Python refuses int() of more than 4300 digits).
    return int(text) if len(text) <= _MAX_INTEGER_DIGITS else Decimal(text)


def _integer_from_text(text: str) -> int | str:
    """int, or the error code."""
    if not _INTEGER_RE.fullmatch(text):
        return "not_an_integer"
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > _MAX_INTEGER_DIGITS:
        return "out_of_range"
    return int(text)


def _read_integer(value: Any) -> int | str:
    if isinstance(value, bool | dict | list):
        return "wrong_type"
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "not_an_integer"
        if value.adjusted() > _MAX_INTEGER_DIGITS:
            return "out_of_range"
        if value != value.to_integral_value():
            return "not_an_integer"
        return int(value)
    if isinstance(value, str):
        return _integer_from_text(value)
    return "wrong_type"


def _read_text(value: Any) -> str | tuple[str]:
    """str, or a 1-tuple holding the error code."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        return ("wrong_type",)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        try:
            short = value.is_finite() and value.adjusted() <= _MAX_INTEGER_DIGITS
            if short and value == value.to_integral_value():
                return str(int(value))
            if value.is_finite() and value.as_tuple().exponent == 0:  # a long integer literal: its digits
                return str(value)
        except InvalidOperation:
            pass
        return ("wrong_type",)
    return ("wrong_type",)


def parse_local_datetime(text: str) -> datetime | None:
    """``YYYY-MM-DDThh:mm:ss`` (T or space, optional 1..9 digit fraction), kept to the millisecond."""
    match = _DATETIME_RE.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7)
    millis = int((fraction[1:] + "00")[:3]) if fraction else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, millis * 1000)
    except ValueError:
        return None
    # fields.json datetimeRange: a day inside what Salesforce stores, so no zone's offset leaves the range.
    limits = load_limits()
    seconds = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"  # fixed width
    if not limits.datetime_min <= seconds <= limits.datetime_max:
        return None
    return moment


def utf16_length(text: str) -> int:
    """Length as Salesforce counts it: UTF-16 code units (a character outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def normalise_caller_id(text: str) -> str:
    return "+" + text if _DIGITS_RE.fullmatch(text) else text


def format_local(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _check_field(spec: FieldSpec, value: Any) -> tuple[Value, FieldError | None]:
    if value is None or value == "":
        if spec.required:
            return None, _err(spec.name, "required")
        return None, None
    if spec.kind == "integer":
        number = _read_integer(value)
        if isinstance(number, str):
            return None, _err(spec.name, number)
        if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
            return None, _err(spec.name, "out_of_range", f"must be between {spec.min} and {spec.max}")
        return number, None
    if spec.kind == "datetime":
        if isinstance(value, bool | dict | list):
            return None, _err(spec.name, "wrong_type")
        if not isinstance(value, str):
            return None, _err(spec.name, "invalid_datetime")
        moment = parse_local_datetime(value)
        if moment is None:
            return None, _err(spec.name, "invalid_datetime")
        return moment, None
    text = _read_text(value)
    if isinstance(text, tuple):
        return None, _err(spec.name, text[0])
    if spec.kind == "phone":
        text = normalise_caller_id(text)  # the limit applies to the value as stored, '+' included
    limit = spec.max_length or load_outcomes().max_string_length
    if utf16_length(text) > limit:
        return None, _err(spec.name, "too_long", f"longer than {limit} characters")
    return text, None


def validate_element(element: Any, raw: str) -> Row | Invalid:
    """Validate one JSON value (the body or an array element) against the field spec."""
    if not isinstance(element, dict):
        return Invalid((_err(None, "wrong_type", "the body must be a JSON object"),), raw)
    values: dict[str, Value] = {}
    errors: list[FieldError] = []
    for spec in load_fields():
        value, error = _check_field(spec, element.get(spec.name))
        if error is not None:
            errors.append(error)
        values[spec.name] = value
    call_id = values.get(call_id_field().name)
    if errors:
        return Invalid(tuple(errors), raw, call_id if isinstance(call_id, int) else None)
    return Row(values=values, row_key=row_key(values), raw=raw)


def normalised_text(spec: FieldSpec, value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_local(value)
    return str(value)


def row_key(values: dict[str, Value]) -> str:
    """Lowercase hex SHA-256 of ``name=value`` lines in field-spec order (no trailing newline)."""
    text = "\n".join(f"{spec.name}={normalised_text(spec, values.get(spec.name))}" for spec in load_fields())
    # As Apex's Blob.valueOf (Java's UTF-8 encoder): a lone surrogate (JSON "\ud800") becomes "?".
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def body_key(raw: bytes) -> str:
    """The quarantine key: SHA-256 hex of the raw body bytes."""
    return hashlib.sha256(raw).hexdigest()


def serialise_element(element: Any) -> str:
    """The text stored for an array element (it has no raw text of its own)."""
    return json.dumps(element, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    raise TypeError(type(value).__name__)


def decode_raw(raw: bytes) -> str:
    """Body text for storage; bytes that are not UTF-8 are replaced."""
    return raw.decode("utf-8", errors="replace")


def parse_body(raw: bytes) -> ParsedBody:
    """Read a raw request body into validated elements (see :class:`ParsedBody`)."""
    text_for_storage = decode_raw(raw)
    if not raw.strip(_WHITESPACE):
        empty = _err(None, "empty_body", "the body is empty")
        return ParsedBody(body_error=Invalid((empty,), text_for_storage))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ParsedBody(
            body_error=Invalid((_err(None, "invalid_json", "the body is not UTF-8"),), text_for_storage)
        )
    try:
        data = loads(text)
    except (ValueError, RecursionError):
        return ParsedBody(body_error=Invalid((_err(None, "invalid_json", "the body is not JSON"),), text))
    if isinstance(data, list):
        max_size = load_outcomes().max_batch_size
        if not data:
            return ParsedBody(body_error=Invalid((_err(None, "empty_body", "the array is empty"),), text))
        if len(data) > max_size:
            return ParsedBody(is_batch=True, too_large=True, size=len(data))
        elements = []
        for element in data:
            try:
                element_raw = serialise_element(element)
            except (TypeError, ValueError, RecursionError):
                element_raw = ""
            elements.append(validate_element(element, element_raw))
        return ParsedBody(is_batch=True, elements=tuple(elements), size=len(data))
    if not isinstance(data, dict):
        return ParsedBody(body_error=validate_element(data, text))  # type: ignore[arg-type]
    return ParsedBody(elements=(validate_element(data, text),), size=1)
