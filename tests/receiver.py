"""A webhook receiver on 127.0.0.1 for the tests, and the signature checks every delivery must pass."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from inferloop.core.webhooks import canonical_json


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A tiny HTTP server on 127.0.0.1 recording raw requests; answers `fail_status` to the first N."""

    def __init__(self, fail_first: int = 0, fail_status: int = 500):
        self.requests: list[Received] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(receiver.fail_status if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def assert_signed(req: Received, secret: str, verify_webhook) -> None:
    """Both signatures verify with the document's verify_webhook; a wrong secret or changed body fails."""
    header = req.headers["X-Inferloop-Signature"]
    assert verify_webhook(req.body.decode(), header, secret)
    assert not verify_webhook(req.body.decode(), header, secret + "x")
    assert not verify_webhook(req.body.decode() + " ", header, secret)
    payload = req.json
    in_body = payload.pop("signature")
    assert in_body.startswith("sha256=")
    assert verify_webhook(canonical_json(payload), in_body, secret)
