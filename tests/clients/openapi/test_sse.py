"""The event stream read by a maintained Python SSE client (httpx-sse)
against a live `runway serve`: connected mid-run it replays the history,
then delivers the session's closing event live; reconnected with
Last-Event-ID it delivers exactly the events after that id."""

import json
import os
import threading

import httpx
from httpx_sse import connect_sse

BASE = os.environ["RUNWAY_HTTP"] + "/api/v1/cloud"
AUTH = {"Authorization": f"Bearer {os.environ['RUNWAY_TOKEN']}"}


def post(client, path, body=None):
    response = client.post(f"{BASE}{path}", json=body if body is not None else {}, headers=AUTH)
    assert response.status_code in (200, 201), response.text
    return response.json()


def events(messages, count):
    """The next `count` messages of the iterator that are not heartbeats."""
    seen = []
    for sse in messages:
        if sse.event == "heartbeat":
            continue
        seen.append(sse)
        if len(seen) == count:
            return seen
    raise AssertionError(f"the stream ended after {len(seen)} events")


def test_history_then_live_then_resume():
    with httpx.Client(timeout=30) as client:
        agent = post(client, "/agents", {"name": "sse", "model": "claude-sonnet-4-5"})
        env = post(client, "/environments", {"name": "sse"})
        dep = post(
            client,
            "/deployments",
            {
                "name": "sse",
                "agent": agent["id"],
                "environment_id": env["id"],
                "initial_events": [{"type": "user.message", "content": "hello"}],
            },
        )
        run = post(client, f"/deployments/{dep['id']}/run")
        session = run["session_id"]
        url = f"{BASE}/sessions/{session}/events/stream"

        with connect_sse(client, "GET", url, headers=AUTH) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            messages = source.iter_sse()
            history = events(messages, 2)
            assert [e.event for e in history] == ["user.message", "session.status_running"]
            first = json.loads(history[0].data)
            assert first["content"] == "hello" and first["id"] == history[0].id

            # Live: the run is canceled while the stream is open.
            threading.Timer(0.3, post, args=(httpx.Client(), f"/deployment_runs/{run['id']}/cancel")).start()
            (closing,) = events(messages, 1)
            assert closing.event == "session.status_idle"
            assert json.loads(closing.data)["stop_reason"]["type"] == "interrupted"

        resume = {**AUTH, "Last-Event-ID": history[0].id}
        with connect_sse(client, "GET", url, headers=resume) as source:
            missed = events(source.iter_sse(), 2)
            assert [e.id for e in missed] == [history[1].id, closing.id]
