"""Callback tokens and tunnel channel names never reach the logs: ``relay serve`` with its own logging config."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import httpx

from relay.embedded import EmbeddedRedis
from relay.logs import RedactingFormatter, redact
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import relay_process

CHANNEL = "chan-Secret-42"


def test_tokens_and_channels_are_redacted_end_to_end(tmp_path: Path) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    environ = {
        "REDIS_URL": redis_server.start(),
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_LOG_LEVEL": "debug",
        "RELAY_STORE_TIMEOUT_S": "1",
    }
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

    assert statuses == [200, 401, 401, 404, 405, 404, 404, 404, 503]
    assert log.count("/hooks/kie/[redacted]") >= 6  # the access log saw the requests
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
