"""Abuse from outside gets a 400 with a one-line reason and one log line — never a 500 with a traceback: a
JSON body nested 100,000 deep, `"tools": [5]`, a nested `x-sim-behaviour` header, a malformed HTTP request."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import pytest

HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
DEEP = '{"model": "m", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}"
TOOLS = json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [5]})


def _message(path: str, body: dict) -> str:
    return body["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
@pytest.mark.parametrize(
    ("body", "reason"),
    [(DEEP, "the JSON is nested too deeply"), (TOOLS, "tools: must be a list of objects")],
    ids=["deep", "tools"],
)
def test_bad_bodies_are_400_with_one_line(
    sim_url: str, path: str, body: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = httpx.post(sim_url + path, content=body, headers=HEADERS, timeout=30)
    assert response.status_code == 400
    message = _message(path, response.json())
    assert message.endswith(reason) and "\n" not in message
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_nested_behaviour_header_is_400(sim_url: str) -> None:
    headers = {**HEADERS, "x-sim-behaviour": "[" * 4000 + "]" * 4000}
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    response = httpx.post(sim_url + "/v1/chat/completions", content=body, headers=headers, timeout=30)
    assert response.status_code == 400 and "x-sim-behaviour" in response.json()["error"]["message"]


def test_a_malformed_http_request_logs_one_line(sim_url: str, caplog: pytest.LogCaptureFixture) -> None:
    host, port = sim_url.split("//")[1].split(":")
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            reply = conn.recv(200)
        # aiohttp logs the error (handle_error -> log_exception) before it writes the 400 that recv returned
    assert reply.startswith(b"HTTP/1.0 400") or reply.startswith(b"HTTP/1.1 400")
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) == 1
    (record,) = records
    assert record.exc_info is None and record.levelno == logging.WARNING
    line = record.getMessage()
    assert line.startswith("simulator: malformed HTTP request answered 400: Invalid character in Content-Length")
    assert "\n" not in line
