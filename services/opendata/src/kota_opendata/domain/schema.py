"""CSV parsing with schema inference and per-row validation for agency uploads.

Rules: the header row names the columns (normalised to lower-case identifiers); a column's type is the most
specific of bool, int, numeric, date, timestamp that its non-empty values fit, allowing at most
max(1, 10 %) of them not to fit (and fewer misfits than fits), else text; a row is rejected (with its line number and the reason) when it has the wrong number of columns
or a value that does not fit its column's type. Empty values are nulls.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

TYPES = ("int", "numeric", "text", "timestamp", "date", "bool")
INFERENCE_SHARE = 0.9
RESERVED = {"_id", "_key", "_text"}
_TRUE = {"true", "ya", "yes", "y"}
_FALSE = {"false", "tidak", "no", "n"}


@dataclass(frozen=True)
class Field:
    id: str
    type: str
    label: str = ""
    notes: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "label": self.label, "notes": self.notes}


@dataclass(frozen=True)
class RowError:
    row_number: int
    field: str
    reason: str


@dataclass
class ParsedCsv:
    fields: list[Field]
    rows: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0


class CsvError(ValueError):
    """The file as a whole cannot be read (encoding, no header)."""


def normalise_name(name: str, position: int) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    if not slug:
        slug = f"column_{position + 1}"
    if slug[0].isdigit():
        slug = f"c_{slug}"
    return slug[:60]


def parse_value(kind: str, raw: str):
    """Parses one non-empty CSV value as `kind`; raises ValueError when it does not fit."""
    value = raw.strip()
    if kind == "text":
        return raw
    if kind == "int":
        if not re.fullmatch(r"[+-]?\d{1,18}", value):
            raise ValueError(f"expected an integer, got {value[:40]!r}")
        return int(value)
    if kind == "numeric":
        candidate = value.replace(",", ".") if ("," in value and "." not in value and value.count(",") == 1) else value
        try:
            number = float(candidate)
        except ValueError:
            raise ValueError(f"expected a number, got {value[:40]!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {value[:40]!r}")
        return number
    if kind == "bool":
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true/false, got {value[:40]!r}")
    if kind == "date":
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
            try:
                return datetime.strptime(value, fmt).date().isoformat()
            except ValueError:
                pass
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value[:40]!r}")
    if kind == "timestamp":
        if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value):
            raise ValueError(f"expected a timestamp (ISO 8601), got {value[:40]!r}")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected a timestamp (ISO 8601), got {value[:40]!r}") from None
        if parsed.tzinfo is not None:
            from datetime import timezone

            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed.isoformat()
    raise ValueError(f"unknown type {kind!r}")


def _fits(kind: str, value: str) -> bool:
    try:
        parse_value(kind, value)
        return True
    except ValueError:
        return False


def infer_type(values: list[str]) -> str:
    """The most specific type the non-empty values fit, allowing max(1, 10 %) misfits (fewer than fits)."""
    sample = [v for v in values if v.strip()]
    if not sample:
        return "text"
    allowed_misfits = max(1, int((1 - INFERENCE_SHARE) * len(sample)))
    for kind in ("bool", "int", "numeric", "date", "timestamp"):
        fitting = sum(1 for v in sample if _fits(kind, v))
        misfits = len(sample) - fitting
        if fitting >= 1 and misfits <= allowed_misfits and misfits < fitting:
            return kind
    return "text"


def read_csv(data: bytes, given_types: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> ParsedCsv:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(f"the file is not UTF-8 (byte {exc.start})") from None
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise CsvError("the file has no header row")
    delimiter = max([",", ";", "\t"], key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    names: list[str] = []
    for position, raw in enumerate(header):
        name = normalise_name(raw, position)
        base, n = name, 2
        while name in names or name in RESERVED:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    raw_labels = {name: raw.strip() for name, raw in zip(names, header, strict=True)}
    given_types = given_types or {}
    rows: list[tuple[int, list[str]]] = []
    errors: list[RowError] = []
    line = reader.line_num
    for record in reader:
        row_number = line + 1
        line = reader.line_num
        if not record or all(not v.strip() for v in record):
            continue
        if len(record) != len(names):
            errors.append(RowError(row_number, "", f"expected {len(names)} columns, got {len(record)}"))
            continue
        rows.append((row_number, record))
    fields = []
    for i, name in enumerate(names):
        kind = given_types.get(name) or infer_type([r[i] for _, r in rows])
        fields.append(Field(name, kind, (labels or {}).get(name) or raw_labels[name]))
    parsed = ParsedCsv(fields=fields)
    for row_number, record in rows:
        out: dict = {}
        bad: RowError | None = None
        for f, raw in zip(fields, record, strict=True):
            if not raw.strip():
                out[f.id] = None
                continue
            try:
                out[f.id] = parse_value(f.type, raw)
            except ValueError as exc:
                bad = RowError(row_number, f.id, str(exc))
                break
        if bad:
            errors.append(bad)
        else:
            parsed.rows.append(out)
    errors.sort(key=lambda e: e.row_number)
    parsed.errors = errors
    parsed.rejected = len(errors)
    return parsed


__all__ = ["TYPES", "CsvError", "Field", "ParsedCsv", "RowError", "infer_type", "parse_value", "read_csv"]
