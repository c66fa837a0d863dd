"""schemathesis hooks for scripts/schemathesis.

1. `filter_failure`: a few rules of the API cannot be written in JSON Schema
   (they depend on the clock, on a password-strength estimate, on a value
   the server handed out, or on the difference between `5` and `5.0`, which
   JSON Schema does not see). A schema-valid request refused with 422 for one
   of those rules, and for nothing else, is what API.md asks for, so that
   "Schema-valid request rejected" (ST202) is dropped. Every other 422 to a
   schema-valid request still fails the run.

2. With MOODLOG_ST_FRESH_ACCOUNTS=1 (the run over POST /logout,
   POST /me/password and DELETE /me): every test case gets an account and a
   session of its own, and comes from a client address of its own
   (`X-Forwarded-For`, believed because the server runs with
   `--trusted-proxy 127.0.0.1`). So a case that logs out, or fails a
   password check, cannot change what a later case sees: no token dies under
   it and no throttle builds up across cases.
"""

import atexit
import collections
import itertools
import json
import os
import secrets
import sys

import requests
import schemathesis

# (operation, field) -> messages (prefixes) of rules JSON Schema cannot state.
INEXPRESSIBLE = {
    # The window is relative to the server's clock.
    ("POST /mood", "recorded_at"): (
        "must not be more than 5 minutes in the future",
        "must not be before 1970-01-01T00:00:00Z",
    ),
    # A zxcvbn strength estimate.
    ("POST /users", "password"): ("is too easy to guess",),
    ("POST /me/password", "new_password"): ("is too easy to guess",),
    # Only a `next_cursor` the server answered is a cursor.
    ("GET /mood", "cursor"): ("is not a cursor from `next_cursor`",),
    # A key means what it was first sent with (API.md: same key, other body: 422).
    ("POST /mood", "Idempotency-Key"): ("was already used with a different request body",),
}

# What was dropped, printed when schemathesis exits.
DROPPED = collections.Counter()


@atexit.register
def _print_dropped():
    for (operation, field), count in sorted(DROPPED.items()):
        print(f"ST202 dropped (rule JSON Schema cannot state): {operation} `{field}`: {count}", file=sys.stderr)


def _float_rating(case):
    """JSON Schema counts 5.0 as an integer; API.md refuses it (422)."""
    body = case.body if isinstance(case.body, dict) else {}
    return isinstance(body.get("rating"), float)


# Rules that hold only for some values of the field: (operation, field) ->
# whether this case's value is one of them.
ONLY_WHEN = {
    ("POST /mood", "rating"): _float_rating,
}


def _only_inexpressible(operation, case, response):
    try:
        problem = json.loads(response.content)
    except ValueError:
        return False
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not errors:
        return False
    for error in errors:
        key = (operation, error.get("field"))
        if key in ONLY_WHEN:
            if not ONLY_WHEN[key](case):
                return False
            continue
        allowed = INEXPRESSIBLE.get(key, ())
        if not any(str(error.get("message", "")).startswith(m) for m in allowed):
            return False
    for error in errors:
        DROPPED[(operation, error.get("field"))] += 1
    return True


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    if getattr(failure, "code", None) != "ST202" or response.status_code != 422:
        return True
    return not _only_inexpressible(f"{case.method.upper()} {case.operation.path}", case, response)


if os.environ.get("MOODLOG_ST_FRESH_ACCOUNTS") == "1":
    BASE = os.environ["MOODLOG_ST_BASE_URL"]
    PASSWORD = "violet tugboat simmers quietly"
    _counter = itertools.count(1)

    # No caching (refresh_interval=None): `get` runs for every case.
    @schemathesis.auth(refresh_interval=None)
    class FreshAccount:
        def get(self, case, ctx):
            n = next(_counter)
            # A made-up client address per case (only a header value: no
            # traffic goes to it), unique for 65,534 cases.
            address = f"198.18.{n // 256 % 256}.{n % 256}"
            headers = {"X-Forwarded-For": address}
            username = f"st{n}_{secrets.token_hex(4)}"
            r = requests.post(
                f"{BASE}/users",
                json={"username": username, "password": PASSWORD},
                headers=headers,
                timeout=30,
            )
            r.raise_for_status()
            r = requests.post(
                f"{BASE}/login",
                json={"username": username, "password": PASSWORD},
                headers=headers,
                timeout=30,
            )
            r.raise_for_status()
            return {"token": r.json()["token"], "address": address}

        def set(self, case, data, ctx):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data['token']}"
            case.headers["X-Forwarded-For"] = data["address"]
