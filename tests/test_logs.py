"""Callback tokens and tunnel channel names never reach the logs: ``relay serve`` with its own logging config."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st

from relay.embedded import EmbeddedRedis
from relay.logs import _SECRET_PATHS, JsonFormatter, RedactingFormatter, plain_value, redact
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import relay_process

CHANNEL = "chan-Secret-42"


def _environ(tmp_path: Path, redis_url: str, **settings: str) -> dict[str, str]:
    """A `relay serve` process's environment on ``redis_url``, with ``settings`` on top."""
    return {
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        **settings,
    }


def test_tokens_and_channels_are_redacted_end_to_end(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    environ = _environ(tmp_path, redis_server.start(), RELAY_LOG_LEVEL="debug", RELAY_STORE_TIMEOUT_S="1")
    log_path = tmp_path / "relay.log"
    try:
        with relay_process(environ, log_path) as (url, _), httpx.Client(base_url=url) as client:
            issued = client.post("/v1/callback-urls", json={"provider": "kie"}, headers=ADMIN).json()["url"]
            path = httpx.URL(issued).path
            token = path.rsplit("/", 1)[1]
            statuses = [
                client.post(path, json={"code": 200, "data": {"taskId": "k1"}}).status_code,
                client.post(path + "x", json={}).status_code,
                client.post(path.replace("/kie/", "/ttapi/"), json={}).status_code,
                client.post(path.replace("/kie/", "/nope/"), json={}).status_code,
                client.get(path).status_code,
                client.post(path + "/more", json={}).status_code,
                client.get(f"/v1/tunnels/{CHANNEL}/stream").status_code,
                client.get(f"/t/{CHANNEL}/x").status_code,
            ]
            with socket.create_connection((httpx.URL(url).host, httpx.URL(url).port)) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".encode())
                sock.recv(1024)
            redis_server.stop()
            statuses.append(client.post(path, json={"code": 200, "data": {"taskId": "k2"}}).status_code)
    finally:
        redis_server.stop()
    log = log_path.read_text()

    assert statuses == [200, 401, 401, 404, 405, 404, 401, 404, 503]
    # The access log saw the refused requests (401, 405, 404, 503); the stored callback has its own line instead.
    assert log.count('"POST /hooks/kie/[redacted] HTTP/1.1" 401') == 1
    assert log.count("/hooks/kie/[redacted]") >= 5
    assert "store unavailable path=/hooks/kie/[redacted]" in log
    assert token not in log and token[:20] not in log
    assert CHANNEL not in log


def test_formatter_redacts_arguments_of_any_type_and_tracebacks() -> None:
    record = logging.LogRecord("relay", logging.ERROR, __file__, 1, "scope=%s", ({"path": "/hooks/kie/SECRET1"},), None)
    try:
        raise ValueError("fetching https://relay.example/t/SECRET2")
    except ValueError as exc:
        record.exc_info = (ValueError, exc, exc.__traceback__)

    line = RedactingFormatter("%(message)s").format(record)

    assert "SECRET" not in line
    assert redact(redact("/hooks/kie/abc.def")) == "/hooks/kie/[redacted]"


# Text made of the pieces that matter to redaction and quoting, in any order.
_LOG_TEXT = st.lists(
    st.sampled_from(["/hooks/", "/t/", "/v1/tunnels/", "/", "kie", "tok3n", " ", "?", "=", "'", "\n", "\x1b", "é"])
).map("".join)


@given(_LOG_TEXT)
def test_redaction_fast_path_agrees_with_the_pattern(text: str) -> None:
    assert redact(text) == _SECRET_PATHS.sub(lambda match: match.group(1) + "[redacted]", text)


@given(_LOG_TEXT)
def test_plain_values_are_bare_only_when_unambiguous(text: str) -> None:
    shown = plain_value(text)
    unambiguous = text and not any(c.isspace() or c in "'\"=\\" or ord(c) < 32 for c in text)
    assert shown == (text if unambiguous else repr(text))


@given(st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=1, max_size=20))
def test_times_formatted_once_a_second_read_as_logging_formats_them(moments: list[float]) -> None:
    plain, json_formatter, stdlib = RedactingFormatter(), JsonFormatter(), logging.Formatter()
    stdlib_utc = logging.Formatter()
    stdlib_utc.converter = time.gmtime
    for created in moments:  # in any order: the formatter remembers only the last second
        record = _record("x")
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert plain.formatTime(record) == stdlib.formatTime(record)
        assert json_formatter.formatTime(record, "%Y-%m-%dT%H:%M:%S") == stdlib_utc.formatTime(
            record, "%Y-%m-%dT%H:%M:%S"
        )


FORGED_TASK = "t-1\r\n2026-11-27 12:00:00,000 INFO relay.routes.inbound callback task_id=x subscription_id=sub_FAKE"


def _record(message: str, *args: object, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("relay.test", logging.INFO, __file__, 1, message, args, None)
    record.fields = fields
    return record


def test_plain_lines_escape_control_characters_in_messages_and_fields() -> None:
    formatter = RedactingFormatter("%(levelname)s %(message)s")

    line = formatter.format(_record("callback from %s", "a\nb", task_id=FORGED_TASK, elapsed_ms=1.5, tag=None))

    assert "\n" not in line and "\r" not in line
    assert line.startswith("INFO callback from a\\nb task_id='t-1\\r\\n2026-11-27")
    assert line.endswith(" elapsed_ms=1.5 tag=-")
    # A plain value stays bare; one with spaces or '=' is quoted, so it cannot pass for two fields.
    assert formatter.format(_record("x", a="evt_1", b="k=v")) == "INFO x a=evt_1 b='k=v'"


def test_json_fields_come_from_the_record_not_from_parsing_the_message() -> None:
    line = json.loads(JsonFormatter().format(_record("callback", task_id=FORGED_TASK, event_id="evt_1", attempt=2)))

    assert line["task_id"] == FORGED_TASK and line["event_id"] == "evt_1" and line["attempt"] == 2
    assert "subscription_id" not in line
    assert line["message"] == "callback" and line["level"] == "info"


def test_a_forged_task_id_stays_inside_its_field_end_to_end(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    environ = _environ(tmp_path, redis_server.start(), RELAY_STORE_TIMEOUT_S="1", RELAY_WORKER="false")
    logs = {}
    try:
        for fmt in ("plain", "json"):
            log_path = tmp_path / f"{fmt}.log"
            with relay_process({**environ, "RELAY_LOG_FORMAT": fmt}, log_path) as (url, _):
                issued = httpx.post(f"{url}/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN)
                ack = httpx.post(issued.json()["url"], json={"taskId": FORGED_TASK + fmt, "status": "completed"})
                assert ack.status_code == 200, ack.text
            logs[fmt] = log_path.read_text().splitlines()
    finally:
        redis_server.stop()

    plain = [line for line in logs["plain"] if "sub_FAKE" in line]
    assert len(plain) == 1 and " callback " in plain[0]  # one line, the real one: nothing forged a second
    # One line per stored callback: no access line for it, other requests keep theirs.
    assert not any('"POST /hooks/generic/' in line for line in logs["plain"])
    assert any('"POST /v1/callback-urls HTTP/1.1" 201' in line for line in logs["plain"])
    objects = [json.loads(line) for line in logs["json"]]  # every line is one JSON object
    callbacks = [obj for obj in objects if obj["message"] == "callback"]
    assert [obj["task_id"] for obj in callbacks] == [FORGED_TASK + "json"]
    assert callbacks[0]["provider"] == "generic" and callbacks[0]["duplicate"] is False
    assert not any(obj.get("subscription_id") == "sub_FAKE" for obj in objects)


def test_access_lines_once_per_request_but_none_for_answered_webhooks(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    environ = _environ(tmp_path, redis_server.start(), RELAY_WORKER="false")
    log_path = tmp_path / "relay.log"
    try:
        with relay_process(environ, log_path) as (url, _), httpx.Client(base_url=url) as client:
            channel = client.post("/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
            issued = client.post("/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN).json()["url"]
            statuses = [
                client.get("/healthz").status_code,
                client.post(f"/t/{channel}", json={"n": 1}).status_code,
                client.post(f"/t/{channel}", content=b"x" * (2 << 20)).status_code,
                client.post("/t/no-such-channel", json={"n": 2}).status_code,
                client.post(issued, json={"taskId": "t1", "status": "completed"}).status_code,
                client.get("/nowhere?a=1").status_code,
            ]
    finally:
        redis_server.stop()
    lines = log_path.read_text().splitlines()

    assert statuses == [200, 200, 413, 404, 200, 404]
    access = [line.split(" relay.access ", 1)[1] for line in lines if " relay.access " in line]
    # In uvicorn's shape: client address, request line, status.
    assert all(line.startswith("127.0.0.1:") and line.split(" ", 1)[1].startswith('- "') for line in access)
    requests = [line.split(" ", 1)[1] for line in access]
    # Each once (uvicorn's own access log is off).
    assert requests.count('- "POST /v1/tunnels HTTP/1.1" 201') == 1
    assert requests.count('- "GET /healthz HTTP/1.1" 200') >= 1  # the test's, and relay_process's wait for start
    assert requests.count('- "GET /nowhere?a=1 HTTP/1.1" 404') == 1
    # Refused webhooks keep theirs (the positive control); the answered webhook and callback have none.
    assert requests.count('- "POST /t/[redacted] HTTP/1.1" 413') == 1
    assert requests.count('- "POST /t/[redacted] HTTP/1.1" 404') == 1
    assert not any('"POST /t/[redacted] HTTP/1.1" 200' in line or "/hooks/" in line for line in requests)
    assert sum(" callback " in line for line in lines) == 1
    assert not any("uvicorn.access" in line for line in lines)
    assert channel not in "\n".join(lines)
