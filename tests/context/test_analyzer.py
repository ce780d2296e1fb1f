"""The offline analyzer (domains, entities, fields, counts, fan-outs, rules) and the LLM plug-in (fake transport)."""

from __future__ import annotations

import json

import httpx
import pytest

from inferloop.core.errors import InferloopError
from tasks.context.analyzer import LexiconAnalyzer, check_context
from tasks.context.llm import LLMAnalyzer

A = LexiconAnalyzer()


def fields(analysis: dict, schema: str) -> dict[str, dict]:
    s = next(s for s in analysis["schemas"] if s["name"] == schema)
    return {f["name"]: f for f in s["fields"]}


def rules(analysis: dict) -> set[tuple]:
    return {(c["type"], c["schema"], c["field"]) for c in analysis["constraints"]}


def test_document_example_healthcare():
    a = A.analyze("Healthcare clinic with 200 patients needs patient records and appointment scheduling")
    assert a["domain"] == "healthcare" and a["confidence"] >= 0.9
    assert a["requirements"] == [
        {"name": "patients", "description": "Patient demographic records", "data_type": "tabular",
         "estimated_volume": "200"},
        {"name": "appointments", "description": "Appointment scheduling records", "data_type": "tabular",
         "estimated_volume": "1000"}]
    assert a["suggested_schemas"] == ["patients", "appointments"] and "patient" not in a["suggested_schemas"]
    assert {"healthcare", "clinic", "patients", "appointments"} <= set(a["keywords"])
    assert fields(a, "appointments")["patient_id"]["references"] == {"schema": "patients", "field": "id"}
    assert any("doctors" in n for n in a["notes"])  # a lookup it could add, said plainly


@pytest.mark.parametrize("context,domain,schemas", [
    ("Financial services with customer accounts and transactions", "banking",
     ["customers", "accounts", "transactions"]),
    ("Legal firm case management with clients, cases, and documents", "legal", ["clients", "cases", "documents"]),
    ("An HR department tracking employees and their leave requests", "hr",
     ["departments", "employees", "leave_requests"]),
    ("Logistics company: warehouses ship parcels with carriers", "logistics", ["warehouses", "carriers", "shipments"]),
    ("A university with students, courses and enrollments", "education", ["students", "courses", "enrollments"]),
    ("We run a webshop", "retail", ["customers", "products", "orders", "order_items"]),
])
def test_domains_and_their_entities(context, domain, schemas):
    a = A.analyze(context)
    assert a["domain"] == domain and a["suggested_schemas"] == schemas


def test_explicit_fields_counts_fanouts_and_rules():
    a = A.analyze("A bank with 10k customers; each customer has up to 3 accounts. Customers with name, loyalty "
                  "points and a preferred branch. Transaction amounts between $1 and $5,000. Balance must be "
                  "positive. 4 transactions per account. Account number is unique. Status is one of open, frozen "
                  "or closed.")
    vol = {r["name"]: int(r["estimated_volume"]) for r in a["requirements"]}
    assert vol == {"customers": 10000, "accounts": 15000, "transactions": 60000}
    rel = {(r["parent"], r["child"]): r for r in a["relationships"]}
    assert rel[("customers", "accounts")]["max_children"] == 3
    assert rel[("accounts", "transactions")]["mean_children"] == 4
    f = fields(a, "customers")
    assert f["loyalty_points"]["type"] == "STRING" and f["preferred_branch"]["type"] == "STRING"
    t = fields(a, "transactions")["amount"]
    assert (t["min"], t["max"]) == (1, 5000)
    acc = fields(a, "accounts")
    assert acc["balance"]["min"] > 0 and acc["account_number"]["unique"] is True
    assert acc["status"]["choices"] == ["open", "frozen", "closed"]
    assert {("range", "transactions", "amount"), ("positive", "accounts", "balance"),
            ("unique", "accounts", "account_number"), ("one_of", "accounts", "status")} <= rules(a)


def test_sum_and_date_rules_from_the_issue():
    a = A.analyze("Online store with customers, orders and order lines. The order total is the sum of its lines. "
                  "Ship date after order date.")
    assert ("sum", "orders", "total_amount") in rules(a) and ("date_order", "orders", "ship_date") in rules(a)
    orders = fields(a, "orders")
    assert orders["total_amount"]["derived"] == {"kind": "sum", "schema": "order_items", "field": "line_total"}
    assert orders["ship_date"]["after"]["field"] == "order_date"
    assert fields(a, "order_items")["line_total"]["derived"] == {"kind": "product",
                                                                  "fields": ["quantity", "unit_price"]}
    src = {c["type"]: c["source"] for c in a["constraints"]}
    assert src["sum"] == "context" and src["product"] == "domain"


def test_before_and_cross_schema_dates_and_unknown_rules_are_reported():
    a = A.analyze("Healthcare: patients and appointments. Appointment date before the discharge date. "
                  "Appointments must be polite.")
    appt = fields(a, "appointments")
    assert appt["discharge_date"]["after"]["field"] == "appointment_date"
    assert any("not understood" in n and "polite" in n for n in a["notes"])


def test_generic_entities_outside_the_known_domains():
    a = A.analyze("Restaurant managing reservations, guests and menu items")
    assert a["domain"] == "general" and set(a["suggested_schemas"]) == {"reservations", "guests", "menu_items"}
    assert fields(a, "guests")["email"]["type"] == "EMAIL"
    assert {(r["parent"], r["child"]) for r in a["relationships"]} == {("guests", "reservations")}
    assert any("guessed" in n for n in a["notes"])


def test_domain_hint_and_bad_input():
    a = A.analyze("records of people and visits", domain_hint="healthcare")
    assert a["domain"] == "healthcare" and a["confidence"] >= 0.8
    with pytest.raises(InferloopError) as e:
        A.analyze("anything", domain_hint="astrology")
    assert e.value.field == "domain_hint"
    for bad in ("", "   ", "x" * 1001):
        with pytest.raises(InferloopError) as e:
            check_context(bad, 1000)
        assert e.value.code == "INVALID_REQUEST" and e.value.field == "context"
    with pytest.raises(InferloopError):
        A.analyze("hello")


# --- the LLM plug-in, against a fake OpenAI-compatible service --------------------------------------------

LLM_ANSWER = {
    "domain": "retail", "confidence": 0.9, "keywords": ["bakery"],
    "schemas": [
        {"name": "Customers", "description": "bakery customers", "estimated_volume": 100,
         "fields": [{"name": "full name", "type": "NAME"}, {"name": "email", "type": "email"},
                    {"name": "customer_id", "type": "UUID"}]},
        {"name": "orders", "estimated_volume": 400,
         "fields": [{"name": "ordered_at", "type": "timestamp"}, {"name": "total", "type": "MONEY"},
                    {"name": "pickup_date", "type": "DATE"}, {"name": "weird", "type": "HOLOGRAM"}]}],
    "relationships": [{"parent": "customers", "child": "orders", "role": "owner", "mean_children": 4}],
    "constraints": [{"type": "range", "schema": "orders", "field": "total", "min": 2, "max": 80},
                    {"type": "sum", "schema": "orders", "field": "total", "child": "nothing", "child_field": "x"}],
}


def fake_llm(status: int = 200, content: str | None = None, seen: list | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if status != 200:
            return httpx.Response(status, text="model overloaded")
        text = json.dumps(LLM_ANSWER) if content is None else content
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": text}}]})
    return httpx.MockTransport(handle)


def test_llm_analyzer_answer_goes_through_the_same_checks():
    seen: list = []
    llm = LLMAnalyzer("http://llm.test/v1", "tiny-model", api_key="sk-test", transport=fake_llm(seen=seen))
    a = llm.analyze("A bakery with customers ordering cakes", domain_hint="retail")
    req = seen[0]
    assert req.url == "http://llm.test/v1/chat/completions" and req.headers["authorization"] == "Bearer sk-test"
    body = json.loads(req.content)
    assert body["model"] == "tiny-model" and body["messages"][-1]["content"].startswith("Domain hint: retail")
    assert a["analyzer"] == "llm" and a["domain"] == "retail" and a["confidence"] == 0.9
    assert a["suggested_schemas"] == ["customers", "orders"]
    c, o = fields(a, "customers"), fields(a, "orders")
    assert c["full_name"]["type"] == "NAME" and c["email"]["type"] == "EMAIL" and "customer_id" not in c
    assert o["ordered_at"]["type"] == "DATETIME" and o["total"]["type"] == "DECIMAL"
    assert (o["total"]["min"], o["total"]["max"]) == (2, 80) and o["weird"]["type"] == "STRING"
    assert o["customer_id"]["references"]["schema"] == "customers"
    assert any("rule skipped" in n for n in a["notes"])  # the impossible sum is reported, not fatal


@pytest.mark.parametrize("transport", [fake_llm(status=503), fake_llm(content="not json at all"),
                                       fake_llm(content=json.dumps({"schemas": []})),
                                       httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ConnectError("down")))])
def test_llm_failures_are_llm_error_502(transport):
    with pytest.raises(InferloopError) as e:
        LLMAnalyzer("http://llm.test/v1", "m", transport=transport).analyze("a shop")
    assert e.value.code == "LLM_ERROR" and e.value.status == 502


def test_a_context_near_the_size_limit_is_read_in_bounded_time():
    import time

    text = ("Online store with customers, orders and order lines. The order total is the sum of its lines. "
            "Ship date after order date. " * 7000)[:990_000]
    started = time.monotonic()
    a = A.analyze(text)
    assert time.monotonic() - started < 120   # seconds on a busy 2-core machine; about 1 s when idle
    assert ("sum", "orders", "total_amount") in rules(a)
    noisy = " ".join(["order total after ship date between sum of customer lines with"] * 20_000)
    started = time.monotonic()
    A.analyze(noisy)
    assert time.monotonic() - started < 180
