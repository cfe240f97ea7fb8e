"""Push policy without AWS or network: validation, encoding, signing, the retry schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apicall.core.models import Connection
from apicall.core.settings import Settings
from apicall.push.deliverer import InvalidMessage, retry_delay_s
from apicall.push.message import build_request, encode_record, parse_message, signed_headers

EVENTS = Path(__file__).resolve().parents[2] / "events"
KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SCHEDULE = (10, 30, 120, 300, 900, 1800, 3600, 7200, 14400)


def bodies(name: str) -> list[str]:
    return [record["body"] for record in json.loads((EVENTS / name).read_text())["Records"]]


@pytest.mark.parametrize(
    "name", ["push_json_record.json", "push_form_record.json", "push_signed_record.json"]
)
def test_sample_events_hold_valid_push_messages(name: str) -> None:
    [body] = bodies(name)
    assert parse_message(body).id.startswith("evt_")


def test_the_invalid_sample_names_the_missing_field() -> None:
    [body] = bodies("push_invalid_message.json")
    with pytest.raises(InvalidMessage) as caught:
        parse_message(body)
    assert caught.value.field == "target.url"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        ('{"target": {"url": "https://h.example/x"}, "record": {}}', "id"),
        ('{"id": "e", "target": {"url": "/relative"}, "record": {}}', "target"),
        (
            '{"id": "e", "target": {"url": "https://h.example", "method": "GET"}, "record": {}}',
            "target.method",
        ),
        ('{"id": "e", "target": {"url": "https://h.example"}, "record": [1]}', "record"),
        (
            '{"id": "e", "target": {"url": "https://h.example", "colour": 1}, "record": {}}',
            "target.colour",
        ),
    ],
)
def test_a_bad_message_is_invalid_and_names_the_field(body: str, field: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_message(body)
    assert caught.value.field == field


def test_json_records_are_compact_utf8() -> None:
    assert encode_record({"a": 1, "n": "é"}, "json") == ('{"a":1,"n":"é"}', "application/json")


def test_form_records_encode_scalars_and_nest_json() -> None:
    text, content_type = encode_record({"a": None, "b": False, "c": {"d": 1}}, "form")
    assert content_type == "application/x-www-form-urlencoded"
    assert text == "a=&b=false&c=%7B%22d%22%3A1%7D"


def test_a_relative_url_joins_the_connection_base_url_and_keeps_braces_literal() -> None:
    message = parse_message(
        json.dumps(
            {
                "id": "e1",
                "target": {"connection": "crm", "url": "/hooks/{raw}", "headers": {"X-A": "1"}},
                "record": {"x": 1},
            }
        )
    )
    connection = Connection(base_url="https://api.example.com/v2", headers={"X-Org": "o"})
    request, body = build_request(message, connection)
    assert request.url == "https://api.example.com/v2/hooks/{raw}"
    assert request.headers == {"X-Org": "o", "X-A": "1", "Content-Type": "application/json"}
    assert request.content == body.encode() == b'{"x":1}'


def test_a_relative_url_without_base_url_is_invalid_and_names_target_url() -> None:
    message = parse_message('{"id": "e", "target": {"connection": "c", "url": "/x"}, "record": {}}')
    with pytest.raises(InvalidMessage) as caught:
        build_request(message, Connection())
    assert caught.value.field == "target.url"


def test_signatures_verify_with_standardwebhooks_and_a_tampered_body_does_not() -> None:
    body = '{"id":7}'
    headers = signed_headers("evt_1", body, Webhook(KEY))
    assert headers["webhook-id"] == "evt_1"
    assert Webhook(KEY).verify(body, headers) == {"id": 7}
    with pytest.raises(WebhookVerificationError):
        Webhook(KEY).verify('{"id":8}', headers)


def test_unsigned_deliveries_still_carry_the_webhook_id() -> None:
    assert signed_headers("evt_1", "{}", None) == {"webhook-id": "evt_1"}


@pytest.mark.parametrize(
    ("failed_attempt", "delay"), [(1, 10), (2, 30), (3, 120), (9, 14400), (25, 14400)]
)
def test_the_retry_delay_grows_along_the_schedule(failed_attempt: int, delay: int) -> None:
    assert retry_delay_s(failed_attempt, SCHEDULE) == delay


def test_a_later_retry_after_wins_and_sqs_caps_the_delay() -> None:
    assert retry_delay_s(1, SCHEDULE, retry_after_s=95.2) == 96
    assert retry_delay_s(3, SCHEDULE, retry_after_s=5) == 120
    assert retry_delay_s(1, SCHEDULE, retry_after_s=10**6) == 43200


def test_the_schedule_is_read_from_the_environment_and_checked() -> None:
    settings = Settings.model_validate({"PUSH_RETRY_SCHEDULE": "0, 1,2"})
    assert settings.push_retry_schedule == (0, 1, 2)
    with pytest.raises(ValueError, match="comma-separated"):
        Settings.model_validate({"PUSH_RETRY_SCHEDULE": "10,-1"})
