"""Generators for the `format`s the test API's OpenAPI document names and schemathesis cannot
derive from JSON Schema alone: a JSONPath's grammar, a curl command line. Loaded by the
schemathesis CLI through SCHEMATHESIS_HOOKS (tests/integration/test_api_openapi_contract.py).
"""

from __future__ import annotations

import shlex

import schemathesis
from hypothesis import strategies as st

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)

jsonpaths = st.one_of(
    st.sampled_from(["$", "$.data[*]", "$..id", "$[0]", "$['a b']", "$.items[?@.id > 1]"]),
    st.lists(_NAMES, min_size=1, max_size=3).map(lambda names: "$." + ".".join(names)),
    st.tuples(_NAMES, st.integers(0, 9)).map(lambda pair: f"$.{pair[0]}[{pair[1]}]"),
)

curl_commands = st.builds(
    lambda method, path, headers, data: " ".join(
        [
            "curl",
            *(["-X", method] if method else []),
            shlex.quote(f"https://api.example.com/{path}"),
            *[f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers],
            *([f"-d {shlex.quote(data)}"] if data else []),
        ]
    ),
    st.sampled_from([None, "GET", "POST", "PUT", "PATCH", "DELETE"]),
    st.lists(_NAMES, max_size=3).map("/".join),
    st.lists(st.tuples(st.sampled_from(["Accept", "X-Trace", "X-Tenant"]), _NAMES), max_size=2),
    st.sampled_from([None, '{"a": 1}', "x=1&y=2"]),
)

schemathesis.openapi.format("jsonpath", jsonpaths)
schemathesis.openapi.format("curl-command", curl_commands)
