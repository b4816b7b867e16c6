"""runway's webhooks, received and verified by the reference Standard
Webhooks library for Python: a run an agent completes is told `started`
then `completed`, one that fails `started` then `failed`, each signed as the
specification says and carrying exactly its headers."""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HERE = Path(__file__).resolve().parent
BIN = os.environ["RUNWAY_BIN"]


class Received:
    """What the receiver got: verified payloads with their headers, and
    the requests that failed verification."""

    def __init__(self):
        self.secret = None
        self.verified = []
        self.rejected = []
        self.changed = threading.Condition()

    def wait_for(self, what, done, timeout=60):
        with self.changed:
            if not self.changed.wait_for(lambda: done(self.verified) or self.rejected, timeout):
                pytest.fail(f"timed out waiting for {what}: {self.verified}")
            assert not self.rejected, self.rejected


def receiver(received):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = Webhook(received.secret).verify(body, headers)
            except WebhookVerificationError as err:
                with received.changed:
                    received.rejected.append((str(err), headers))
                    received.changed.notify_all()
                self.send_response(400)
                self.end_headers()
                return
            with received.changed:
                received.verified.append((headers, payload, body))
                received.changed.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def runway():
    """`runway serve` on free ports, with an embedded runner executing agent.py."""
    data = tempfile.mkdtemp()
    log = open(Path(data) / "serve.log", "w+")
    process = subprocess.Popen(
        [BIN, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
         "--data-dir", data, "--webhooks-allow-private",
         "--exec", f"{sys.executable} {HERE / 'agent.py'}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    base = None
    while base is None:
        assert process.poll() is None, Path(log.name).read_text()
        assert time.monotonic() < deadline, "runway serve did not start"
        match = re.search(r"REST on (http://\S+)", Path(log.name).read_text())
        if match:
            base = match.group(1)
        else:
            time.sleep(0.05)
    token = (Path(data) / "admin-token").read_text().strip()
    yield Api(base, token)
    process.kill()
    process.wait()


class Api:
    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, path, body=None):
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.load(response)


def test_runs_are_told_and_verified_by_the_reference_library(runway):
    received = Received()
    server = receiver(received)
    hook = runway.call("POST", "/webhooks/endpoints", {
        "url": f"http://127.0.0.1:{server.server_address[1]}/hook",
        "event_types": ["deployment_run.started", "deployment_run.completed",
                        "deployment_run.failed"],
    })
    received.secret = hook["signing_secret"]
    assert received.secret.startswith("whsec_")

    agent = runway.call("POST", "/agents", {"name": "verifier", "model": "m"})
    env = runway.call("POST", "/environments", {"name": "verifier"})
    runs = {}
    for outcome in ("succeed", "fail"):
        dep = runway.call("POST", "/deployments", {
            "name": outcome, "agent": agent["id"], "environment_id": env["id"],
            "initial_events": [{"type": "user.message", "content": outcome}],
        })
        runs[outcome] = runway.call("POST", f"/deployments/{dep['id']}/run")["id"]

    def told(verified):
        return {(p["type"], p["data"]["id"]) for _, p, _ in verified}

    expected = {
        ("deployment_run.started", runs["succeed"]),
        ("deployment_run.completed", runs["succeed"]),
        ("deployment_run.started", runs["fail"]),
        ("deployment_run.failed", runs["fail"]),
    }
    received.wait_for("four events", lambda verified: told(verified) >= expected)
    assert told(received.verified) == expected, received.verified
    assert len(received.verified) == 4, "each event once"

    for headers, payload, _ in received.verified:
        # Exactly the Standard Webhooks headers, with the event id as webhook-id.
        assert sorted(h for h in headers if h.startswith("webhook-")) == [
            "webhook-id", "webhook-signature", "webhook-timestamp"]
        assert headers["content-type"] == "application/json"
        assert headers["webhook-id"] == payload["id"]
        assert re.fullmatch(r"evt_[0-9a-f]{32}", payload["id"])
        assert re.fullmatch(r"[0-9]+", headers["webhook-timestamp"])
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
        assert re.fullmatch(r"v1,[A-Za-z0-9+/]+=*", headers["webhook-signature"])
        assert sorted(payload) == ["created_at", "data", "id", "type"]
        assert payload["data"]["type"] == "deployment_run"
    # The library is not lenient: another secret, or one changed byte, fails.
    headers, _, body = received.verified[0]
    Webhook(received.secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(received.secret).verify(body.replace(b'"id"', b'"Id"', 1), headers)

    # The terminal events carry the run as the API renders it.
    by_type = {p["type"]: p for _, p, _ in received.verified}
    completed = runway.call("GET", f"/deployment_runs/{runs['succeed']}")
    failed = runway.call("GET", f"/deployment_runs/{runs['fail']}")
    assert by_type["deployment_run.completed"]["data"] == completed
    assert by_type["deployment_run.failed"]["data"] == failed
    assert failed["error"]["type"] == "agent_error"
    started = [p for _, p, _ in received.verified if p["type"] == "deployment_run.started"]
    assert {p["data"]["status"] for p in started} == {"running"}
