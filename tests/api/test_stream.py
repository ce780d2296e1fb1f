"""GET /stream/{model_id}: Server-Sent Events from a saved model over real HTTP, with a real sampler process.

The ready model is made the way the train flow makes one: a gaussian_copula synthesizer fitted on a small
table, saved to storage with `save_model`, and registered as a `ready` row of the models table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from inferloop.core import db, storage
from inferloop.core.auth import owner_of_bootstrap_key
from tests.support import API_KEY, OTHER_KEY, ApiServer
from tests.tabular_data import customers

HEADERS = {"X-API-Key": API_KEY}
COLUMNS = list(customers(5).columns)


# --- helpers --------------------------------------------------------------------------------------------

def register_model(owner: str, status: str = "ready", train: bool = True) -> str:
    """A models-table row for `owner`; with `train`, a fitted gaussian_copula saved as the train flow does."""
    from tasks.tabular.model_store import save_model
    from tasks.tabular.synthesizers import build

    model_id = db.new_id("model")
    uri = None
    if train:
        model = build("sdv:gaussian_copula", {})
        model.fit(customers(200), seed=3)
        uri = storage.join("models", model_id, "model.pkl")
        save_model(model, uri)
    with db.session_scope() as s:
        s.add(db.Model(id=model_id, owner=owner, name="stream-test", algorithm="sdv",
                       model_key="sdv:gaussian_copula", model_type="gaussian_copula", parameters={},
                       status=status, artifact_uri=uri, model_metadata={}))
    return model_id


def read_events(lines: Iterator[str], stop_after_records: int | None = None) -> list[tuple[str, str]]:
    """Parse SSE lines into (event, data) pairs; data lines are joined with \\n as the SSE spec says."""
    events, name, data, records = [], None, [], 0
    for line in lines:
        if line == "":
            if name is not None or data:
                events.append((name or "message", "\n".join(data)))
                records += name == "record"
                if stop_after_records is not None and records >= stop_after_records:
                    break
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
    return events


def stream(api: str, model_id: str, headers: dict | None = None, **params) -> tuple[httpx.Response, list]:
    url = f"{api}/api/tabular/stream/{model_id}"
    with httpx.stream("GET", url, params=params, headers=headers or HEADERS, timeout=120) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        return r, read_events(r.iter_lines())


def of(events: list[tuple[str, str]], name: str) -> list[str]:
    return [data for event, data in events if event == name]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 15) -> bool:
    """Whether the process has ended (and been reaped: a zombie still answers kill(pid, 0))."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def sampler_children() -> list[int]:
    """PIDs of this process's `tasks.tabular.stream_sampler` children (the test API serves from this process)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"tasks.tabular.stream_sampler" in cmdline:
            found.append(int(entry))
    return found


def error_of(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err.get("field") == field and err["request_id"], err
    return err


@pytest.fixture(scope="module")
def ready_model(api_no_prefect) -> str:
    return register_model(owner_of_bootstrap_key(API_KEY))


# --- streaming ------------------------------------------------------------------------------------------

def test_json_stream_paced_with_stats_and_complete(api_no_prefect, ready_model):
    r, events = stream(api_no_prefect, ready_model, rate=50, duration=2.5, format="json", seed=11)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    pid = int(r.headers["X-Stream-Worker-Pid"])

    assert events[0] == ("header", json.dumps(COLUMNS))
    records = [json.loads(d) for d in of(events, "record")]
    assert len(records) == 125  # rate x duration
    assert all(list(rec) == COLUMNS for rec in records)  # the model's columns, no added id
    assert {rec["segment"] for rec in records} <= {"gold", "silver", "bronze"}
    stats = [json.loads(d) for d in of(events, "stats")]
    assert len(stats) >= 2 and set(stats[0]) == {"total_generated", "rate", "elapsed"}
    assert [s["total_generated"] for s in stats] == sorted(s["total_generated"] for s in stats)
    complete = json.loads(of(events, "complete")[0])
    assert events[-1][0] == "complete" and complete["total"] == 125 and set(complete) == {"total", "duration"}
    assert 2.0 <= complete["duration"] <= 5.0
    assert not alive(pid), "`complete` came before the sampler process was stopped and reaped"

    with db.session_scope() as s:
        assert s.get(db.Model, ready_model).last_used is not None  # registry.touch

    again = [json.loads(d) for d in of(stream(api_no_prefect, ready_model, rate=1000, duration=0.05,
                                              seed=11)[1], "record")]
    assert again == records[:len(again)] and len(again) == 50  # the same seed gives the same records


def test_csv_stream_at_max_rate(api_no_prefect, ready_model):
    r, events = stream(api_no_prefect, ready_model, rate="max", duration=1.5, format="csv")
    assert r.status_code == 200
    assert events[0] == ("header", ",".join(COLUMNS))
    records = of(events, "record")
    assert len(records) > 500
    rows = list(csv.reader(io.StringIO("\n".join(records))))
    assert len(rows) == len(records) and all(len(row) == len(COLUMNS) for row in rows)
    assert {row[COLUMNS.index("country")] for row in rows} <= {"FR", "DE", "US", "ES"}
    complete = json.loads(of(events, "complete")[0])
    assert complete["total"] == len(records)
    assert not alive(int(r.headers["X-Stream-Worker-Pid"]))


def test_client_disconnect_stops_the_sampler_and_frees_the_slot(settings, ready_model):
    from api.main import create_app

    one_stream = settings.model_copy(update={"stream_max_concurrent": 1})
    with ApiServer(create_app(one_stream, run_watcher=False)) as server:
        url = f"{server.url}/api/tabular/stream/{ready_model}"
        long_stream = {"rate": 200, "duration": 600}
        with httpx.stream("GET", url, params=long_stream, headers=HEADERS, timeout=120) as r:
            assert r.status_code == 200
            pid = int(r.headers["X-Stream-Worker-Pid"])
            lines = r.iter_lines()  # kept: an abandoned iterator closes the connection when collected
            assert len(of(read_events(lines, stop_after_records=20), "record")) == 20
            assert alive(pid)
            busy = httpx.get(url, params={"duration": 1}, headers=HEADERS, timeout=60)
            error_of(busy, 429, "RATE_LIMITED")
        # the connection is closed mid-stream: the API must kill and reap the sampler
        assert wait_gone(pid), "the sampler process survived the client's disconnect"
        assert sampler_children() == []
        end = time.monotonic() + 10
        while (r := httpx.get(url, params={"rate": 1000, "duration": 0.1}, headers=HEADERS, timeout=120)) \
                .status_code == 429 and time.monotonic() < end:
            time.sleep(0.2)
        assert r.status_code == 200 and r.text.count("event: record") == 100


def test_rows_are_reserved_and_unsent_rows_given_back(api_no_prefect):
    r = httpx.post(f"{api_no_prefect}/api/tabular/admin/keys", headers=HEADERS,
                   json={"account": f"acct-stream-{uuid.uuid4().hex[:8]}", "tier": "starter", "name": "t"})
    assert r.status_code == 201, r.text
    key, owner = r.json()["api_key"], r.json()["account_id"]
    starter = {"X-API-Key": key}
    model_id = register_model(owner)

    too_many = httpx.get(f"{api_no_prefect}/api/tabular/stream/{model_id}", headers=starter,
                         params={"rate": 1000, "duration": 200})  # 200,000 rows > 100,000 per hour
    error_of(too_many, 429, "RATE_LIMITED", "num_rows")

    r, events = stream(api_no_prefect, model_id, headers=starter, rate="max", duration=1)
    total = json.loads(of(events, "complete")[0])["total"]
    assert 0 < total < 100_000
    usage = httpx.get(f"{api_no_prefect}/api/tabular/usage", headers=starter).json()
    assert usage["limits"]["remaining"]["rows"] == 100_000 - total


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,field", [
    ({"rate": 0}, "rate"), ({"rate": -5}, "rate"), ({"rate": "fast"}, "rate"), ({"rate": "nan"}, "rate"),
    ({"duration": 0}, "duration"), ({"duration": -1}, "duration"), ({"duration": "soon"}, "duration"),
    ({"duration": 3601}, "duration"), ({"format": "xml"}, "format"), ({"format": "parquet"}, "format"),
    ({"seed": -1}, "seed"),
])
def test_bad_parameters(api_no_prefect, ready_model, params, field):
    r = httpx.get(f"{api_no_prefect}/api/tabular/stream/{ready_model}", params=params, headers=HEADERS)
    error_of(r, 400, "INVALID_REQUEST", field)


def test_unknown_other_owners_and_deleted_models_are_not_found(api_no_prefect, ready_model):
    api = api_no_prefect
    error_of(httpx.get(f"{api}/api/tabular/stream/model-nope", headers=HEADERS), 404, "NOT_FOUND")
    error_of(httpx.get(f"{api}/api/tabular/stream/{ready_model}", headers={"X-API-Key": OTHER_KEY}),
             404, "NOT_FOUND")
    doomed = register_model(owner_of_bootstrap_key(API_KEY), train=False)
    with db.session_scope() as s:
        s.get(db.Model, doomed).status, s.get(db.Model, doomed).artifact_uri = "ready", "/nowhere/model.pkl"
    assert httpx.delete(f"{api}/api/tabular/models/{doomed}", headers=HEADERS).status_code == 200
    error_of(httpx.get(f"{api}/api/tabular/stream/{doomed}", headers=HEADERS), 404, "NOT_FOUND")


def test_model_not_ready_is_a_conflict(api_no_prefect):
    training = register_model(owner_of_bootstrap_key(API_KEY), status="training", train=False)
    r = httpx.get(f"{api_no_prefect}/api/tabular/stream/{training}", headers=HEADERS)
    err = error_of(r, 409, "CONFLICT", "model_id")
    assert err["model_status"] == "training"


def test_unloadable_model_is_a_clear_error_and_leaves_no_process(api_no_prefect):
    broken = register_model(owner_of_bootstrap_key(API_KEY), train=False)
    uri = storage.join("models", broken, "model.pkl")
    with storage.open_uri(uri, "wb") as f:
        f.write(b"not a pickle")
    with db.session_scope() as s:
        s.get(db.Model, broken).status, s.get(db.Model, broken).artifact_uri = "ready", uri
    err = error_of(httpx.get(f"{api_no_prefect}/api/tabular/stream/{broken}", headers=HEADERS, timeout=120),
                   500, "GENERATION_FAILED")
    assert "streaming stopped" in err["message"]
    assert sampler_children() == []


# --- the sampler's event format ---------------------------------------------------------------------------

def test_sampler_events_keep_line_breaks_and_missing_values():
    import pandas as pd

    from tasks.tabular.stream_sampler import header_event, record_events

    frame = pd.DataFrame({"note": ["two\nlines", "plain", "cr\r\nlf"], "x": [1.5, None, 3.0],
                          "when": pd.to_datetime(["2024-01-02", None, "2024-03-04"])})
    for fmt in ("json", "csv"):
        text = header_event(list(frame.columns), fmt) + record_events(frame, fmt)
        events = read_events(iter(text.split("\n")))
        assert [e for e, _ in events] == ["header", "record", "record", "record"]
        assert text.count("\n\n") == 4  # one blank line per event: what the API counts
        if fmt == "json":
            assert json.loads(events[0][1]) == ["note", "x", "when"]
            rows = [json.loads(d) for _, d in events[1:]]
            assert [r["note"] for r in rows] == ["two\nlines", "plain", "cr\r\nlf"]
            assert rows[1]["x"] is None and rows[1]["when"] is None
            assert rows[0]["when"].startswith("2024-01-02")
        else:
            assert events[0][1] == "note,x,when"
            rows = list(csv.reader(io.StringIO("\n".join(d for _, d in events[1:]))))
            assert [r[0] for r in rows] == ["two\nlines", "plain", "cr\nlf"]  # SSE turns \r\n into \n
            assert rows[1][1:] == ["", ""] and rows[0][1] == "1.5"
