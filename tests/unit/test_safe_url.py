"""safe_url shows any URL the client may refuse, without its credentials, and never raises."""

from __future__ import annotations

import pytest

from apicall.core.redaction import safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9/in?\u00e9t\u00e9=1", "http://127.0.0.1:9/in?%C3%A9t%C3%A9=***"),
        ("http://127.0.0.1:9/in?a b=1&k=secret", "http://127.0.0.1:9/in?a%20b=***&k=***"),
        ("http://u:p@127.0.0.1:9/in?\x85=1", "http://127.0.0.1:9/in?%C2%85=***"),
    ],
)
def test_a_query_name_that_is_not_ascii_is_shown_percent_encoded(url: str, shown: str) -> None:
    assert safe_url(url) == shown
