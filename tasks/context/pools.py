"""Value pools built once with Faker (names, cities, companies, sentences, ...), then sampled vectorised.

Faker makes realistic values but one at a time (tens of microseconds each); the generators draw from
pools of a few thousand Faker values with numpy indices instead, so a million rows cost one gather.
Pools are cached per (kind, locale, seed) in the process.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import polars as pl

POOL_SIZE = 1000
PRODUCT_ADJECTIVES = ("Classic", "Premium", "Eco", "Smart", "Compact", "Deluxe", "Ultra", "Everyday", "Pro",
                      "Vintage", "Wireless", "Organic", "Portable", "Essential", "Modern")
PRODUCT_NOUNS = ("T-Shirt", "Backpack", "Headphones", "Coffee Maker", "Desk Lamp", "Water Bottle", "Sneakers",
                 "Notebook", "Blender", "Yoga Mat", "Phone Case", "Jacket", "Watch", "Sunglasses", "Kettle",
                 "Speaker", "Chair", "Toaster", "Scarf", "Keyboard", "Mouse", "Candle", "Pillow", "Skillet")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "example.com",
                 "mail.com")
LOCAL_PATTERNS = {"en_US": {"PHONE": "(###) ###-####", "POSTAL_CODE": "#####"}}


def stable_seed(*parts: object) -> int:
    """A seed from values (stable across processes, unlike hash())."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


def _faker(locale: str, seed: int):
    from faker import Faker

    try:
        fake = Faker(locale)
    except AttributeError:
        fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


@lru_cache(maxsize=128)
def pool(kind: str, locale: str = "en_US", seed: int = 0) -> pl.Series:
    """Distinct values of one kind (an Enum series, so a gather of a million indices stays cheap)."""
    fake = _faker(locale, stable_seed(kind, seed))
    if kind == "product_name":
        values = [f"{fake.random_element(PRODUCT_ADJECTIVES)} {fake.color_name()} {fake.random_element(PRODUCT_NOUNS)}"
                  for _ in range(POOL_SIZE)]
    elif kind == "email_domain":
        values = list(EMAIL_DOMAINS) + [fake.domain_name() for _ in range(40)]
    elif kind == "street_address":
        values = [fake.street_address() for _ in range(POOL_SIZE)]
    elif kind == "text":
        values = [fake.sentence(nb_words=10) for _ in range(POOL_SIZE)]
    elif kind == "postal_code":
        values = [fake.postcode() for _ in range(POOL_SIZE)]
    else:
        method = {"company": "company", "city": "city", "state": "state", "country": "country",
                  "first_name": "first_name", "last_name": "last_name"}.get(kind, kind)
        make = getattr(fake, method)
        values = [str(make()) for _ in range(POOL_SIZE)]
    distinct = list(dict.fromkeys(v.replace("\n", ", ") for v in values))
    return pl.Series(kind, distinct, dtype=pl.Enum(distinct))


def local_pattern(kind: str, locale: str) -> str | None:
    """The digit pattern of phones / postal codes for a locale (None: use a Faker pool)."""
    return LOCAL_PATTERNS.get(locale, {}).get(kind)
