"""The offline domain lexicon: known domains, their entities, fields, relationships and default rules.

Seven domains are known (retail, banking, healthcare, hr, logistics, legal, education). Each entity has
aliases (how a context may name it), a description, fields with realistic value parameters, a default
volume, and relationships: `owner` (the parent whose rows the child's rows belong to: counts, sums and
date rules follow it) or `lookup` (a reference spread over the parent's rows by popularity).
Everything else the analyzer proposes comes from tasks/context/fields.py's field-name patterns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tasks.context.fields import infer_field


def F(name: str, **overrides: Any) -> dict[str, Any]:  # noqa: N802  (reads like a declaration)
    return infer_field(name, **overrides)


def C(name: str, choices: list, weights: list | None = None, **kw: Any) -> dict[str, Any]:  # noqa: N802
    return F(name, **{"type": "CATEGORY", "choices": choices, "weights": weights, **kw})


@dataclass
class EntityDef:
    name: str
    description: str
    aliases: tuple[str, ...]
    fields: list[dict[str, Any]]
    volume: int = 1000
    kind: str = "thing"    # person, event, document, thing: how a generic context's nouns are filled in


@dataclass
class RelDef:
    parent: str
    child: str
    role: str = "owner"      # owner | lookup
    min_children: int = 0
    max_children: int | None = None
    mean_children: float = 3.0


@dataclass
class DomainDef:
    name: str
    description: str
    keywords: dict[str, float]
    entities: list[EntityDef]
    relationships: list[RelDef]
    core: list[str]
    rules: list[dict[str, Any]] = field(default_factory=list)  # constraints in the spec's form

    def entity(self, name: str) -> EntityDef | None:
        return next((e for e in self.entities if e.name == name), None)


PERSON = lambda: [F("first_name"), F("last_name"), F("email", unique=True), F("phone", required=False)]  # noqa: E731

RETAIL = DomainDef(
    "retail", "Retail and e-commerce: customers, products, orders and their lines",
    {"retail": 2, "e-commerce": 2, "ecommerce": 2, "online store": 2, "shop": 1.5, "store": 1, "webshop": 2,
     "checkout": 1.5, "cart": 1.5, "sku": 2, "merchandise": 1.5, "inventory": 1, "purchase": 1, "order": 1,
     "product": 1, "catalog": 1.5, "catalogue": 1.5, "basket": 1, "shipping": 0.5},
    [
        EntityDef("customers", "Customer accounts of the store", ("customer", "shopper", "buyer", "client"),
                  [*PERSON(), F("city"), F("country"), F("signup_date", min="2018-01-01", max="2024-12-31"),
                   C("loyalty_tier", ["bronze", "silver", "gold", "platinum"], [0.5, 0.3, 0.15, 0.05])],
                  1000, "person"),
        EntityDef("products", "Products of the catalogue", ("product", "item for sale", "article", "goods"),
                  [F("name", type="STRING", faker="product_name"),
                   F("sku", pattern="SKU-######", unique=True),
                   C("category", ["electronics", "clothing", "home", "beauty", "sports", "toys", "grocery",
                                  "books"], [0.18, 0.2, 0.15, 0.1, 0.1, 0.07, 0.12, 0.08]),
                   F("unit_price", min=1, max=2000, distribution="lognormal", mean=35),
                   F("in_stock", type="BOOLEAN", probability=0.9)], 200),
        EntityDef("orders", "Orders placed by customers", ("order", "purchase", "sale", "transaction"),
                  [F("order_date", min="2022-01-01", max="2024-12-31"), F("ship_date", required=False),
                   C("status", ["delivered", "shipped", "processing", "cancelled", "returned"],
                     [0.7, 0.1, 0.1, 0.05, 0.05]),
                   C("payment_method", ["card", "paypal", "bank_transfer", "gift_card"], [0.6, 0.25, 0.1, 0.05]),
                   F("total_amount")], 3000, "event"),
        EntityDef("order_items", "Lines of an order: one product, a quantity and a price",
                  ("order item", "order line", "line item", "line", "item", "basket item"),
                  [F("quantity", min=1, max=10, distribution="poisson", mean=1.5),
                   F("unit_price", min=1, max=2000, distribution="lognormal", mean=35), F("line_total")], 7500),
        EntityDef("reviews", "Product reviews written by customers", ("review", "rating", "feedback"),
                  [C("rating", [1, 2, 3, 4, 5], [0.05, 0.07, 0.15, 0.33, 0.4], type="INTEGER"),
                   F("review_text"), F("review_date", min="2022-01-01", max="2024-12-31")], 800, "document"),
    ],
    [RelDef("customers", "orders", "owner", 0, 30, 3.0), RelDef("orders", "order_items", "owner", 1, 8, 2.5),
     RelDef("products", "order_items", "lookup"), RelDef("customers", "reviews", "owner", 0, 10, 0.8),
     RelDef("products", "reviews", "lookup")],
    ["customers", "products", "orders", "order_items"],
    [{"type": "product", "schema": "order_items", "field": "line_total", "fields": ["quantity", "unit_price"],
      "description": "a line's total is its quantity times its unit price"},
     {"type": "sum", "schema": "orders", "field": "total_amount", "child": "order_items",
      "child_field": "line_total", "description": "an order's total is the sum of its lines"},
     {"type": "date_order", "schema": "orders", "field": "ship_date", "after": "order_date", "min_days": 1,
      "max_days": 10, "description": "an order ships after it is placed"}],
)

BANKING = DomainDef(
    "banking", "Banking and financial services: customers, accounts, transactions, loans",
    {"bank": 2, "banking": 2, "financial": 1.5, "finance": 1.5, "fintech": 2, "account": 1, "deposit": 1.5,
     "withdrawal": 2, "loan": 1.5, "credit": 1, "debit": 1.5, "transaction": 1, "balance": 1,
     "mortgage": 2, "interest": 1, "branch": 1, "atm": 2, "wire": 1},
    [
        EntityDef("customers", "Bank customers", ("customer", "client", "account holder", "member"),
                  [*PERSON(), F("date_of_birth"), F("address"), F("city"),
                   F("customer_since", type="DATE", min="2005-01-01", max="2024-12-31"),
                   F("credit_score", type="INTEGER", min=300, max=850, distribution="normal", mean=690, std=70),
                   C("segment", ["retail", "private", "business"], [0.8, 0.05, 0.15])], 1000, "person"),
        EntityDef("accounts", "Deposit and credit accounts", ("account", "bank account"),
                  [F("account_number", pattern="##########", unique=True),
                   C("account_type", ["checking", "savings", "credit", "money_market"], [0.5, 0.3, 0.15, 0.05]),
                   F("opened_date", min="2010-01-01", max="2023-12-31"),
                   F("balance", min=0, max=250000, distribution="lognormal", mean=4500), F("currency"),
                   C("status", ["active", "dormant", "closed"], [0.85, 0.1, 0.05])], 1800),
        EntityDef("transactions", "Money movements on accounts",
                  ("transaction", "payment", "transfer", "movement"),
                  [F("transaction_date", type="DATETIME", min="2023-01-01", max="2024-12-31"),
                   F("amount", min=0.5, max=10000, distribution="lognormal", mean=60),
                   C("transaction_type", ["debit", "credit", "transfer", "fee", "interest"],
                     [0.55, 0.25, 0.12, 0.05, 0.03]),
                   F("merchant", type="COMPANY", required=False),
                   C("channel", ["card", "online", "mobile", "atm", "branch"], [0.4, 0.25, 0.2, 0.1, 0.05])],
                  20000, "event"),
        EntityDef("loans", "Loans granted to customers", ("loan", "mortgage", "credit line"),
                  [C("loan_type", ["mortgage", "auto", "personal", "student"], [0.3, 0.3, 0.3, 0.1]),
                   F("principal", type="DECIMAL", min=1000, max=900000, distribution="lognormal", mean=25000),
                   F("interest_rate", min=2, max=15, decimals=2, distribution="normal", mean=6.5, std=2),
                   F("start_date", min="2015-01-01", max="2024-06-30"), F("end_date"),
                   C("status", ["current", "paid_off", "late", "default"], [0.75, 0.15, 0.08, 0.02])], 300),
    ],
    [RelDef("customers", "accounts", "owner", 1, 5, 1.8), RelDef("accounts", "transactions", "owner", 0, 200, 11),
     RelDef("customers", "loans", "owner", 0, 3, 0.3)],
    ["customers", "accounts", "transactions"],
    [{"type": "date_order", "schema": "transactions", "field": "transaction_date", "after": "accounts.opened_date",
      "min_days": 0, "max_days": 3650, "description": "transactions happen after their account is opened"},
     {"type": "date_order", "schema": "loans", "field": "end_date", "after": "start_date", "min_days": 365,
      "max_days": 10950, "description": "a loan ends after it starts"}],
)

HEALTHCARE = DomainDef(
    "healthcare", "Healthcare: patients, doctors, appointments and prescriptions",
    {"healthcare": 2, "health care": 2, "clinic": 2, "hospital": 2, "medical": 2, "patient": 1.5,
     "doctor": 1.5, "physician": 2, "nurse": 1.5, "appointment": 1, "prescription": 2, "diagnosis": 2,
     "treatment": 1.5, "ehr": 2, "emr": 2, "pharmacy": 1.5, "insurance": 0.5},
    [
        EntityDef("patients", "Patient demographic records", ("patient",),
                  [F("first_name"), F("last_name"), F("date_of_birth"), F("gender"), F("phone"),
                   F("email", required=False), F("address"), F("city"),
                   C("insurance_provider", ["Aetna", "Blue Cross", "Cigna", "Humana", "Kaiser", "UnitedHealthcare",
                                            "Medicare", "Medicaid"]),
                   F("blood_type")], 200, "person"),
        EntityDef("doctors", "Physicians of the practice", ("doctor", "physician", "provider", "clinician"),
                  [F("first_name"), F("last_name"),
                   C("specialty", ["family medicine", "cardiology", "pediatrics", "dermatology", "orthopedics",
                                   "neurology", "psychiatry", "oncology"],
                     [0.35, 0.1, 0.15, 0.08, 0.1, 0.07, 0.08, 0.07]),
                   F("license_number", pattern="MD-######", unique=True),
                   F("hire_date", min="2000-01-01", max="2024-06-30"), F("email", unique=True)], 20, "person"),
        EntityDef("appointments", "Appointment scheduling records",
                  ("appointment", "visit", "consultation", "booking"),
                  [F("appointment_date", type="DATETIME", min="2023-01-01", max="2024-12-31"),
                   C("reason", ["checkup", "follow-up", "consultation", "vaccination", "lab results",
                                "urgent care"], [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]),
                   C("status", ["completed", "scheduled", "cancelled", "no_show"], [0.65, 0.2, 0.1, 0.05]),
                   C("duration_minutes", [15, 30, 45, 60], [0.3, 0.45, 0.15, 0.1], type="INTEGER"),
                   F("notes", required=False)], 1000, "event"),
        EntityDef("prescriptions", "Medications prescribed at appointments",
                  ("prescription", "medication", "drug", "medicine"),
                  [C("medication", ["Lisinopril", "Atorvastatin", "Metformin", "Amlodipine", "Omeprazole",
                                    "Levothyroxine", "Albuterol", "Sertraline", "Amoxicillin", "Ibuprofen"]),
                   C("dosage", ["5 mg", "10 mg", "20 mg", "25 mg", "50 mg", "100 mg", "500 mg"]),
                   F("prescribed_date", type="DATE"),
                   F("refills", type="INTEGER", min=0, max=5, distribution="poisson", mean=1)], 600),
    ],
    [RelDef("patients", "appointments", "owner", 0, 24, 5.0), RelDef("doctors", "appointments", "lookup"),
     RelDef("appointments", "prescriptions", "owner", 0, 4, 0.6)],
    ["patients", "doctors", "appointments"],
    [{"type": "date_order", "schema": "prescriptions", "field": "prescribed_date",
      "after": "appointments.appointment_date", "min_days": 0, "max_days": 0, "or_equal": True,
      "description": "a prescription is written on the day of its appointment"}],
)

HR = DomainDef(
    "hr", "Human resources: departments, employees, leave requests and performance reviews",
    {"hr": 2, "human resources": 2, "employee": 1.5, "staff": 1.5, "workforce": 2, "payroll": 2,
     "hiring": 1.5, "recruiting": 1.5, "department": 1.5, "salary": 1.5, "leave": 1, "vacation": 1,
     "performance review": 2, "headcount": 2, "personnel": 2},
    [
        EntityDef("departments", "Departments of the company", ("department", "team", "division", "unit"),
                  [C("name", ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations",
                              "Legal", "Customer Support", "Product", "IT"], type="STRING"),
                   F("location", type="CITY"),
                   F("budget", type="DECIMAL", min=100000, max=5000000, distribution="lognormal", mean=900000)], 10),
        EntityDef("employees", "Employees and their contracts", ("employee", "staff member", "worker", "staff"),
                  [*PERSON(), F("job_title"), F("hire_date", min="2005-01-01", max="2024-12-31"),
                   F("salary"), C("employment_type", ["full_time", "part_time", "contractor"], [0.8, 0.1, 0.1]),
                   F("is_active", probability=0.9)], 250, "person"),
        EntityDef("leave_requests", "Leave requested by employees",
                  ("leave request", "leave", "time off", "absence", "vacation request"),
                  [C("leave_type", ["vacation", "sick", "parental", "unpaid", "other"], [0.6, 0.25, 0.05, 0.05, 0.05]),
                   F("start_date", min="2023-01-01", max="2024-12-31"), F("end_date"),
                   C("status", ["approved", "pending", "rejected"], [0.8, 0.12, 0.08])], 500, "event"),
        EntityDef("performance_reviews", "Yearly performance reviews",
                  ("performance review", "review", "appraisal", "evaluation"),
                  [F("review_date", min="2022-01-01", max="2024-12-31"),
                   C("rating", [1, 2, 3, 4, 5], [0.03, 0.1, 0.45, 0.32, 0.1], type="INTEGER"),
                   F("comments")], 250, "document"),
    ],
    [RelDef("departments", "employees", "owner", 1, 400, 25), RelDef("employees", "leave_requests", "owner", 0, 12, 2),
     RelDef("employees", "performance_reviews", "owner", 0, 3, 1)],
    ["departments", "employees"],
    [{"type": "date_order", "schema": "leave_requests", "field": "end_date", "after": "start_date", "min_days": 0,
      "max_days": 20, "or_equal": True, "description": "leave ends on or after the day it starts"}],
)

LOGISTICS = DomainDef(
    "logistics", "Logistics: warehouses, carriers, shipments and tracking events",
    {"logistics": 2, "shipment": 1.5, "shipping": 1, "freight": 2, "warehouse": 2, "delivery": 1,
     "carrier": 2, "tracking": 1.5, "fleet": 1.5, "supply chain": 2, "parcel": 2, "package": 1.5,
     "courier": 2, "dispatch": 1.5, "route": 1},
    [
        EntityDef("warehouses", "Warehouses shipments leave from", ("warehouse", "depot", "distribution center",
                                                                    "fulfillment center", "hub"),
                  [F("name", type="STRING", pattern="WH-###"), F("city"), F("country"),
                   F("capacity", type="INTEGER", min=1000, max=100000, distribution="lognormal", mean=15000)], 12),
        EntityDef("carriers", "Transport companies", ("carrier", "courier", "shipping company", "transporter"),
                  [F("name", type="COMPANY"),
                   C("service_level", ["standard", "express", "overnight", "freight"], [0.5, 0.3, 0.1, 0.1]),
                   F("on_time_rate", min=80, max=99.9, decimals=1)], 8),
        EntityDef("shipments", "Shipments sent from warehouses",
                  ("shipment", "parcel", "package", "consignment", "delivery"),
                  [F("tracking_number", pattern="??##########", unique=True), F("destination_city", type="CITY"),
                   F("destination_country", type="COUNTRY"), F("ship_date", min="2023-01-01", max="2024-12-31"),
                   F("delivery_date", required=False), F("weight_kg"),
                   F("shipping_cost", min=3, max=2500, distribution="lognormal", mean=25),
                   C("status", ["delivered", "in_transit", "pending", "returned", "lost"],
                     [0.75, 0.12, 0.08, 0.04, 0.01])], 3000, "event"),
        EntityDef("tracking_events", "Scan events of a shipment on its way",
                  ("tracking event", "scan", "tracking update", "event"),
                  [F("event_time", type="DATETIME"), F("location", type="CITY"),
                   C("event_type", ["picked_up", "in_transit", "out_for_delivery", "delivered", "exception"],
                     [0.2, 0.45, 0.15, 0.15, 0.05])], 12000, "event"),
    ],
    [RelDef("warehouses", "shipments", "owner", 0, 100000, 250), RelDef("carriers", "shipments", "lookup"),
     RelDef("shipments", "tracking_events", "owner", 1, 12, 4)],
    ["warehouses", "carriers", "shipments"],
    [{"type": "date_order", "schema": "shipments", "field": "delivery_date", "after": "ship_date", "min_days": 1,
      "max_days": 14, "description": "a shipment is delivered after it ships"},
     {"type": "date_order", "schema": "tracking_events", "field": "event_time", "after": "shipments.ship_date",
      "min_days": 0, "max_days": 14, "description": "tracking events follow the ship date"}],
)

LEGAL = DomainDef(
    "legal", "Legal practice: clients, attorneys, cases and documents",
    {"legal": 2, "law firm": 2, "lawyer": 2, "attorney": 2, "case management": 2, "litigation": 2,
     "court": 1.5, "contract": 1, "paralegal": 2, "firm": 0.5, "counsel": 1.5},
    [
        EntityDef("clients", "Clients of the firm", ("client",),
                  [F("name"), F("email", required=False), F("phone"), F("company", required=False),
                   F("client_since", type="DATE", min="2010-01-01", max="2024-12-31")], 300, "person"),
        EntityDef("attorneys", "Attorneys of the firm", ("attorney", "lawyer", "counsel", "solicitor"),
                  [F("first_name"), F("last_name"), F("email", unique=True),
                   C("practice_area", ["litigation", "corporate", "family", "criminal", "real estate",
                                       "intellectual property", "employment"]),
                   F("bar_number", pattern="BAR-#######", unique=True),
                   F("hourly_rate", type="DECIMAL", min=150, max=900, distribution="normal", mean=350, std=120)], 25, "person"),
        EntityDef("cases", "Legal matters handled for clients", ("case", "matter", "lawsuit"),
                  [F("case_number", pattern="CASE-######", unique=True), F("title", type="STRING",
                                                                            faker="catch_phrase"),
                   C("practice_area", ["litigation", "corporate", "family", "criminal", "real estate",
                                       "intellectual property", "employment"]),
                   C("status", ["open", "pending", "closed", "settled"], [0.35, 0.15, 0.35, 0.15]),
                   F("opened_date", min="2015-01-01", max="2024-12-31"), F("closed_date", required=False)],
                  600, "event"),
        EntityDef("documents", "Documents filed in a case", ("document", "filing", "file", "pleading"),
                  [F("title", type="STRING", faker="catch_phrase"),
                   C("document_type", ["contract", "pleading", "motion", "correspondence", "evidence", "memo"]),
                   F("filed_date", type="DATE"),
                   F("pages", type="INTEGER", min=1, max=300, distribution="lognormal", mean=8)], 3000, "document"),
    ],
    [RelDef("clients", "cases", "owner", 0, 12, 2), RelDef("attorneys", "cases", "lookup"),
     RelDef("cases", "documents", "owner", 0, 40, 5)],
    ["clients", "cases", "documents"],
    [{"type": "date_order", "schema": "cases", "field": "closed_date", "after": "opened_date", "min_days": 7,
      "max_days": 1500, "description": "a case closes after it opens"},
     {"type": "date_order", "schema": "documents", "field": "filed_date", "after": "cases.opened_date",
      "min_days": 0, "max_days": 700, "or_equal": True, "description": "documents are filed once the case is open"}],
)

EDUCATION = DomainDef(
    "education", "Education: students, instructors, courses and enrollments",
    {"education": 2, "school": 2, "university": 2, "college": 2, "student": 1.5, "course": 1.5,
     "enrollment": 2, "enrolment": 2, "grade": 1, "teacher": 1.5, "instructor": 2, "classroom": 1.5,
     "curriculum": 2, "semester": 2, "campus": 2},
    [
        EntityDef("students", "Students", ("student", "pupil", "learner"),
                  [*PERSON(), F("date_of_birth", min="1998-01-01", max="2007-12-31"),
                   F("enrollment_year", type="INTEGER", min=2018, max=2024),
                   C("major", ["Computer Science", "Biology", "Economics", "Psychology", "History", "Mathematics",
                               "Engineering", "Nursing"]),
                   F("gpa", type="FLOAT", min=0, max=4, decimals=2, distribution="normal", mean=3.1, std=0.5)],
                  1000, "person"),
        EntityDef("instructors", "Teaching staff", ("instructor", "teacher", "professor", "lecturer", "tutor"),
                  [F("first_name"), F("last_name"), F("email", unique=True),
                   C("department", ["Computer Science", "Biology", "Economics", "Psychology", "History",
                                    "Mathematics", "Engineering", "Nursing"]),
                   F("hire_date", min="1995-01-01", max="2024-06-30")], 60, "person"),
        EntityDef("courses", "Courses offered", ("course", "class", "module", "subject"),
                  [F("course_code", pattern="???-###", unique=True), F("title", type="STRING", faker="catch_phrase"),
                   C("credits", [1, 2, 3, 4, 5], [0.05, 0.1, 0.5, 0.3, 0.05], type="INTEGER"),
                   F("capacity", type="INTEGER", min=10, max=300, distribution="lognormal", mean=40)], 120),
        EntityDef("enrollments", "Students enrolled in courses", ("enrollment", "enrolment", "registration"),
                  [F("enrolled_date", type="DATE", min="2022-08-01", max="2024-09-30"),
                   C("grade", ["A", "B", "C", "D", "F", "W"], [0.3, 0.33, 0.2, 0.07, 0.05, 0.05], required=False),
                   C("status", ["enrolled", "completed", "dropped"], [0.3, 0.62, 0.08])], 4000, "event"),
    ],
    [RelDef("instructors", "courses", "lookup"), RelDef("students", "enrollments", "owner", 1, 8, 4),
     RelDef("courses", "enrollments", "lookup")],
    ["students", "courses", "enrollments"],
)

DOMAINS: dict[str, DomainDef] = {d.name: d for d in (RETAIL, BANKING, HEALTHCARE, HR, LOGISTICS, LEGAL, EDUCATION)}

# nouns of a context outside the known domains, by the kind of thing they name (generic entities)
PERSON_NOUNS = {"client", "customer", "patient", "employee", "student", "user", "member", "person", "guest",
                "tenant", "donor", "volunteer", "subscriber", "passenger", "driver", "contact", "lead",
                "applicant", "candidate", "author", "player", "athlete", "visitor", "attendee", "resident",
                "buyer", "seller", "owner", "agent", "teacher", "coach", "staff", "worker", "doctor", "artist",
                "speaker", "mentor", "trainer", "pet_owner", "traveler", "traveller", "reader", "host", "chef"}
EVENT_NOUNS = {"booking", "reservation", "appointment", "visit", "session", "event", "meeting", "ticket",
               "request", "claim", "case", "order", "incident", "trip", "stay", "rental", "loan", "match",
               "game", "class", "lesson", "shift", "payment", "transaction", "donation", "sale", "call",
               "delivery", "inspection", "repair", "subscription", "registration", "application", "review"}
DOCUMENT_NOUNS = {"document", "file", "report", "note", "invoice", "contract", "article", "post", "message",
                  "comment", "receipt", "record", "letter", "policy", "certificate", "bill", "statement"}
# words that are not entities when a context lists things ("patient records", "appointment scheduling")
FILLER_WORDS = {"record", "records", "data", "information", "info", "management", "scheduling", "details",
                "detail", "history", "histories", "tracking", "system", "systems", "database", "table", "tables",
                "list", "lists", "entries", "entry", "needs", "need", "a", "an", "the", "their", "its", "our",
                "all", "some", "various", "multiple", "different", "synthetic", "realistic", "sample", "logs",
                "log", "set", "sets", "dataset", "datasets"}
