"""The event streams read by a maintained Python SSE client (httpx-sse)
against a live `runway serve`: connected mid-run a session's stream replays
the history, then delivers the session's closing event live; reconnected
with Last-Event-ID it delivers exactly the events after that id; the runs
watch pushes the page with a new run. Every message, and the JSON inside
its data, is checked by `jsonschema` against docs/openapi.json (the
message's schema, then its data's `contentSchema`)."""

import json
import os
import pathlib
import threading

import httpx
import jsonschema
from httpx_sse import connect_sse
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = os.environ["RUNWAY_HTTP"] + "/api/v1/cloud"
AUTH = {"Authorization": f"Bearer {os.environ['RUNWAY_TOKEN']}"}

DOCUMENT = json.loads((pathlib.Path(__file__).parents[3] / "docs" / "openapi.json").read_text())
REGISTRY = Registry().with_resource(
    "urn:runway", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def in_document(schema):
    """`schema` with its `$ref`s (`#/components/…`) pointing into the document."""
    return json.loads(json.dumps(schema).replace('"#/components/', '"urn:runway#/components/'))


def validate(instance, schema):
    jsonschema.Draft202012Validator(
        in_document(schema),
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    ).validate(instance)


def check_message(sse, schema_name):
    """The message against its schema in the document, and its data's JSON
    against the `contentSchema` of the alternative its event names."""
    message = {"event": sse.event, "data": sse.data}
    if sse.id:
        message["id"] = sse.id
    validate(message, {"$ref": f"#/components/schemas/{schema_name}"})
    (kind,) = [
        kind
        for kind in DOCUMENT["components"]["schemas"][schema_name]["oneOf"]
        if sse.event in kind["properties"]["event"]["enum"]
    ]
    validate(json.loads(sse.data), kind["properties"]["data"]["contentSchema"])


def post(client, path, body=None):
    response = client.post(f"{BASE}{path}", json=body if body is not None else {}, headers=AUTH)
    assert response.status_code in (200, 201), response.text
    return response.json()


def deployment(client, name):
    """A new deployment (of a new agent and environment) that says hello."""
    agent = post(client, "/agents", {"name": name, "model": "claude-sonnet-4-5"})
    env = post(client, "/environments", {"name": name})
    return post(
        client,
        "/deployments",
        {
            "name": name,
            "agent": agent["id"],
            "environment_id": env["id"],
            "initial_events": [{"type": "user.message", "content": "hello"}],
        },
    )


def events(messages, count, schema_name="SessionStreamMessage"):
    """The next `count` messages of the iterator that are not heartbeats,
    each (heartbeats too) checked against the document."""
    seen = []
    for sse in messages:
        check_message(sse, schema_name)
        if sse.event == "heartbeat":
            continue
        seen.append(sse)
        if len(seen) == count:
            return seen
    raise AssertionError(f"the stream ended after {len(seen)} events")


def test_history_then_live_then_resume():
    with httpx.Client(timeout=30) as client:
        dep = deployment(client, "sse")
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


def test_the_runs_watch_pushes_a_new_run():
    with httpx.Client(timeout=30) as client:
        dep = deployment(client, "watch")
        url = f"{BASE}/deployment_runs/watch"
        with connect_sse(client, "GET", url, params={"deployment_id": dep["id"]}, headers=AUTH) as source:
            messages = source.iter_sse()
            (empty,) = events(messages, 1, "RunsStreamMessage")
            assert empty.event == "runs" and json.loads(empty.data) == {"data": []}
            run = post(client, f"/deployments/{dep['id']}/run")
            (pushed,) = events(messages, 1, "RunsStreamMessage")
            assert [r["id"] for r in json.loads(pushed.data)["data"]] == [run["id"]]
