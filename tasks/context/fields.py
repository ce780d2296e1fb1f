"""Field types of the context system and what a field's name says about it (the offline field lexicon).

A field is a plain dict (JSON in flow parameters and job records): `name`, `type`, `required` and the
generator's parameters (`min`, `max`, `choices`, `weights`, `distribution`, `mean`, `std`, `decimals`,
`pattern`, `faker`, `probability`, `null_rate`, `unique`) plus, for keys and rules, `primary_key`,
`references`, `derived` and `after` (see tasks/context/spec.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# public type name -> what it holds (docs/context.md lists the same)
TYPES: dict[str, str] = {
    "UUID": "random version-4 UUID text",
    "INTEGER": "whole numbers (uniform, normal or poisson)",
    "FLOAT": "real numbers (uniform, normal or lognormal)",
    "DECIMAL": "money-like numbers with fixed decimals (2 by default)",
    "BOOLEAN": "true/false with a probability",
    "STRING": "short text: choices, a pattern ('#' digit, '?' letter) or a Faker pool",
    "TEXT": "sentences",
    "NAME": "full person names",
    "FIRST_NAME": "given names",
    "LAST_NAME": "family names",
    "EMAIL": "e-mail addresses (from the row's names when it has them)",
    "PHONE": "phone numbers",
    "ADDRESS": "street addresses",
    "CITY": "city names",
    "STATE": "states or regions",
    "COUNTRY": "country names",
    "POSTAL_CODE": "postal codes",
    "COMPANY": "company names",
    "DATE": "calendar dates between min and max",
    "DATETIME": "timestamps between min and max",
    "CATEGORY": "one of `choices`, with optional `weights`",
}
NUMERIC = ("INTEGER", "FLOAT", "DECIMAL")
TEMPORAL = ("DATE", "DATETIME")
KEY_TYPES = ("UUID", "INTEGER")
# type names people (or an LLM) use for ours
TYPE_ALIASES = {
    "INT": "INTEGER", "BIGINT": "INTEGER", "NUMBER": "INTEGER", "LONG": "INTEGER", "SMALLINT": "INTEGER",
    "DOUBLE": "FLOAT", "REAL": "FLOAT", "NUMERIC": "DECIMAL", "MONEY": "DECIMAL", "CURRENCY": "DECIMAL",
    "BOOL": "BOOLEAN", "STR": "STRING", "VARCHAR": "STRING", "CHAR": "STRING", "ENUM": "CATEGORY",
    "CATEGORICAL": "CATEGORY", "TIMESTAMP": "DATETIME", "TIME": "DATETIME", "ZIP": "POSTAL_CODE",
    "ZIPCODE": "POSTAL_CODE", "PHONE_NUMBER": "PHONE", "FULL_NAME": "NAME", "ID": "UUID",
}

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_WORD = re.compile(r"[a-z0-9]+")


def canonical_type(value: Any) -> str | None:
    """Our type name for `value` (case-insensitive, aliases accepted), or None when unknown."""
    if not isinstance(value, str):
        return None
    t = value.strip().upper().replace(" ", "_").replace("-", "_")
    t = TYPE_ALIASES.get(t, t)
    return t if t in TYPES else None


def snake(text: str) -> str:
    """`Date of Birth` -> `date_of_birth` (a field or schema name)."""
    words = _WORD.findall(text.lower())
    name = "_".join(words)[:63] or "field"
    return f"f_{name}" if name[0].isdigit() else name


# (regex on the snake_case name, field parameters) — first match wins; order matters (specific first)
FIELD_PATTERNS: list[tuple[str, dict[str, Any]]] = [
    (r"(^|_)e_?mail(_address)?$", {"type": "EMAIL"}),
    (r"(^|_)(phone|mobile|telephone|tel|fax)(_number)?$", {"type": "PHONE"}),
    (r"^first_?name$|^given_name$", {"type": "FIRST_NAME"}),
    (r"^(last_?name|surname|family_name)$", {"type": "LAST_NAME"}),
    (r"(date_of_birth|birth_?date|^dob$|birthday)", {"type": "DATE", "min": "1940-01-01", "max": "2006-12-31"}),
    (r"(^|_)age$", {"type": "INTEGER", "min": 18, "max": 90, "distribution": "normal", "mean": 45, "std": 16}),
    (r"(^|_)(street|address|street_address|billing_address|shipping_address)$", {"type": "ADDRESS"}),
    (r"(^|_)city$", {"type": "CITY"}),
    (r"(^|_)(state|province|region)$", {"type": "STATE"}),
    (r"(^|_)country$", {"type": "COUNTRY"}),
    (r"(zip|postal|postcode)", {"type": "POSTAL_CODE"}),
    (r"(company|employer|organization|organisation|vendor|supplier|manufacturer|insurer|"
     r"insurance_provider|carrier_name)", {"type": "COMPANY"}),
    (r"(^|_)gender$|^sex$", {"type": "CATEGORY", "choices": ["female", "male", "non-binary"],
                            "weights": [0.49, 0.49, 0.02]}),
    (r"blood_type", {"type": "CATEGORY", "choices": ["O+", "A+", "B+", "AB+", "O-", "A-", "B-", "AB-"],
                     "weights": [0.37, 0.36, 0.09, 0.03, 0.07, 0.05, 0.02, 0.01]}),
    (r"currency", {"type": "CATEGORY", "choices": ["USD", "EUR", "GBP", "JPY", "CAD"],
                   "weights": [0.55, 0.2, 0.1, 0.08, 0.07]}),
    (r"(^|_)(rating|stars|score)$", {"type": "INTEGER", "min": 1, "max": 5}),
    (r"(^|_)(quantity|qty|units|count|number_of_\w+)$", {"type": "INTEGER", "min": 1, "max": 10,
                                                          "distribution": "poisson", "mean": 2}),
    (r"(percent|percentage|rate|ratio|discount)$", {"type": "FLOAT", "min": 0, "max": 100, "decimals": 2}),
    (r"(latitude|^lat$)", {"type": "FLOAT", "min": -90, "max": 90, "decimals": 6}),
    (r"(longitude|^lon$|^lng$)", {"type": "FLOAT", "min": -180, "max": 180, "decimals": 6}),
    (r"(weight|weight_kg)$", {"type": "FLOAT", "min": 0.1, "max": 50, "decimals": 2,
                              "distribution": "lognormal", "mean": 3}),
    (r"(salary|income|wage)", {"type": "DECIMAL", "min": 25000, "max": 250000, "distribution": "lognormal",
                               "mean": 65000}),
    (r"(price|cost|amount|total|balance|fee|payment|charge|revenue|value|subtotal|limit|premium|"
     r"deposit|spend|spent)", {"type": "DECIMAL", "min": 0.5, "max": 5000, "distribution": "lognormal",
                               "mean": 80}),
    (r"(^is_|^has_|^can_|active$|enabled$|verified$|flag$|approved$|paid$|insured$)", {"type": "BOOLEAN"}),
    (r"(_at$|timestamp|datetime|_time$)", {"type": "DATETIME", "min": "2022-01-01", "max": "2024-12-31"}),
    (r"(date$|^date_|_date_|_on$|^day$)", {"type": "DATE", "min": "2022-01-01", "max": "2024-12-31"}),
    (r"(^|_)year$", {"type": "INTEGER", "min": 2015, "max": 2024}),
    (r"(^|_)(status|state_code)$", {"type": "CATEGORY", "choices": ["active", "pending", "closed"],
                                    "weights": [0.7, 0.2, 0.1]}),
    (r"(^|_)(type|kind|category|tier|level|segment|class|channel|method|priority)$",
     {"type": "CATEGORY", "choices": ["standard", "premium", "basic"], "weights": [0.6, 0.15, 0.25]}),
    (r"(^|_)(url|website|homepage)$", {"type": "STRING", "faker": "url"}),
    (r"(^|_)(title|job_title|position|role)$", {"type": "STRING", "faker": "job"}),
    (r"(^|_)(color|colour)$", {"type": "STRING", "faker": "color_name"}),
    (r"(description|notes|note|comment|comments|summary|details|text|reason|feedback|review)$",
     {"type": "TEXT"}),
    (r"(number|code|sku|reference|ref|identifier|iban|account_no)$", {"type": "STRING",
                                                                        "pattern": "??-#######"}),
    (r"(^|_)name$", {"type": "NAME"}),
]
_COMPILED = [(re.compile(p), params) for p, params in FIELD_PATTERNS]


def infer_field(name: str, **overrides: Any) -> dict[str, Any]:
    """A field named `name` with the type and value parameters its name suggests (STRING when nothing does)."""
    key = snake(name)
    for pattern, params in _COMPILED:
        if pattern.search(key):
            field = {"name": key, **{k: (list(v) if isinstance(v, list) else v) for k, v in params.items()}}
            break
    else:
        field = {"name": key, "type": "STRING", "faker": "word"}
    field.setdefault("required", True)
    if "choices" in overrides:  # the pattern's own value parameters do not fit other choices
        for k in ("weights", "min", "max", "distribution", "mean", "std", "faker", "pattern"):
            field.pop(k, None)
    field.update(overrides)
    return {k: v for k, v in field.items() if v is not None}


@lru_cache(maxsize=4096)
def field_words(name: str) -> frozenset[str]:
    """The words of a field name, singular (for matching phrases like 'ship date' to `ship_date`)."""
    return frozenset(singular(w) for w in _WORD.findall(name.lower().replace("_", " ")))


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """A crude English singular: patients -> patient, categories -> category, addresses -> address."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def plural(word: str) -> str:
    w = word.lower()
    if w.endswith("y") and len(w) > 2 and w[-2] not in "aeiou":
        return w[:-1] + "ies"
    if w.endswith(("s", "sh", "ch", "x")):
        return w + "es"
    return w + "s"
