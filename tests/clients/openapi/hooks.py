"""Schemathesis hooks for runway's schema tests.

A generated Idempotency-Key is random, and two positive requests may draw the
same one with different bodies: the documented answer to that is a 400, a
rule between requests that no schema can state. Each request gets a key of
its own instead, so every key still reaches the service.

Schemathesis learns ids from answers (GET /tokens lists the token it calls
with) and may revoke that token, after which every call is rightly a 401 and
nothing more is tested. A revocation of the run's own token is sent for
another, unknown id instead; every other token it revokes is revoked.
"""

import json
import os
import urllib.request
import uuid

import schemathesis


def _own_token_id():
    """The id of the token the run calls with (RUNWAY_HTTP, RUNWAY_TOKEN)."""
    base, token = os.environ.get("RUNWAY_HTTP"), os.environ.get("RUNWAY_TOKEN")
    if not base or not token:
        return None
    request = urllib.request.Request(
        f"{base}/api/v1/cloud/tokens?limit=1000",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        tokens = json.load(answer)["data"]
    admins = [t["id"] for t in tokens if t["scope"] == "admin"]
    return admins[0] if len(admins) == 1 else None


_OWN_TOKEN_ID = _own_token_id()


def _leaves_out_a_parameter(case):
    """A coverage case that tests a missing parameter is sent as drawn."""
    data = getattr(getattr(case.meta, "phase", None), "data", None) if case.meta else None
    scenario = getattr(data, "scenario", None)
    return scenario is not None and "MISSING" in str(scenario).upper()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if _leaves_out_a_parameter(case):
        return
    if (
        _OWN_TOKEN_ID
        and case.path_parameters
        and case.path_parameters.get("id") == _OWN_TOKEN_ID
        and case.method.upper() == "POST"
        and case.path.endswith("/tokens/{id}/revoke")
    ):
        case.path_parameters = {**case.path_parameters, "id": "tok_" + uuid.uuid4().hex}
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers = {**case.headers, "Idempotency-Key": uuid.uuid4().hex}
