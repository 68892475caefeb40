"""Error classification: statuses, both wire formats' bodies, 200-with-error objects, transport exceptions."""

from __future__ import annotations

import json

import httpx
import pytest

from workbench.providers.base import ProviderError
from workbench.providers.errors import (
    auth_secrets,
    classify_error_object,
    classify_http_error,
    from_httpx_exception,
    parse_error_body,
    redact,
)


def openai_body(message: str, type_: str | None = None, code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def anthropic_body(type_: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}})


GEMINI_QUOTA = json.dumps(
    [
        {
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing details. "
                "Please retry in 43.5s.",
                "status": "RESOURCE_EXHAUSTED",
            }
        }
    ]
)


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "retryable", "wait"),
    [
        (408, {}, "", "timeout", True, None),
        (409, {}, openai_body("conflict"), "conflict", True, None),
        (
            429,
            {"retry-after": "3"},
            openai_body("Rate limit reached for gpt-4o on tokens per min.", "tokens", "rate_limit_exceeded"),
            "rate_limit",
            True,
            3.0,
        ),
        (
            429,
            {},
            openai_body("Rate limit reached. Please try again in 5.289s.", "tokens", "rate_limit_exceeded"),
            "rate_limit",
            True,
            5.289,
        ),
        (
            429,
            {"retry-after-ms": "1500", "retry-after": "2"},
            anthropic_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            "rate_limit",
            True,
            1.5,
        ),
        (
            429,
            {},
            openai_body(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
            "quota",
            False,
            None,
        ),
        (
            429,
            {"retry-after": "60"},
            openai_body("You exceeded your current quota.", "insufficient_quota", "insufficient_quota"),
            "quota",
            False,
            60.0,
        ),
        (
            429,
            {},
            anthropic_body(
                "rate_limit_error",
                "You have reached your specified API usage limits. You will regain access on 2026-12-01.",
            ),
            "quota",
            False,
            None,
        ),
        (429, {}, '{"error": {"message": "Monthly spend limit reached"}}', "quota", False, None),
        (  # Anthropic sends Retry-After on spend limits too: no wait lifts them
            429,
            {"retry-after": "30"},
            anthropic_body("rate_limit_error", "You have reached your specified API usage limits."),
            "quota",
            False,
            30.0,
        ),
        (429, {}, GEMINI_QUOTA, "rate_limit", True, 43.5),  # Gemini's per-minute "quota" names a wait
        (500, {}, openai_body("The server had an error", "server_error"), "server", True, None),
        (502, {}, "<html><body>Bad gateway</body></html>", "server", True, None),
        (503, {}, "", "server", True, None),
        (504, {}, "upstream timed out", "server", True, None),
        (520, {}, "", "server", True, None),
        (529, {}, anthropic_body("overloaded_error", "Overloaded"), "overloaded", True, None),
        (503, {}, anthropic_body("overloaded_error", "Overloaded"), "overloaded", True, None),
        (400, {}, openai_body("Invalid 'messages'", "invalid_request_error"), "bad_request", False, None),
        (422, {}, '{"detail": [{"msg": "field required"}]}', "bad_request", False, None),
        (413, {}, anthropic_body("request_too_large", "Request exceeds the maximum size"), "bad_request", False, None),
        (
            400,
            {},
            openai_body(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
            "context_window",
            False,
            None,
        ),
        (
            400,
            {},
            anthropic_body("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
            "context_window",
            False,
            None,
        ),
        (
            400,
            {},
            anthropic_body("invalid_request_error", "max_tokens: 100000 > 64000, which is the maximum allowed"),
            "bad_request",
            False,
            None,
        ),
        (
            400,
            {},
            openai_body(
                "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
                "invalid_request_error",
                "invalid_prompt",
            ),
            "content_policy",
            False,
            None,
        ),
        (
            400,
            {},
            openai_body(
                "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
                None,
                "content_filter",
            ),
            "content_policy",
            False,
            None,
        ),
        (
            400,
            {},
            anthropic_body("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
            "quota",
            False,
            None,
        ),
        (401, {}, anthropic_body("authentication_error", "invalid x-api-key"), "auth", False, None),
        (403, {}, openai_body("Project does not have access", "invalid_request_error"), "auth", False, None),
        (402, {}, '{"error": {"message": "Insufficient credits"}}', "quota", False, None),
        (
            404,
            {},
            openai_body("The model `x` does not exist", "invalid_request_error", "model_not_found"),
            "not_found",
            False,
            None,
        ),
        (418, {}, "teapot", "bad_request", False, None),
        (302, {}, "", "unknown", False, None),
    ],
)
def test_http_status_and_body_classification(
    status: int, headers: dict[str, str], body: str, kind: str, retryable: bool, wait: float | None
) -> None:
    err = classify_http_error(status, httpx.Headers(headers), body, provider="p", model="m")
    assert isinstance(err, ProviderError)
    assert (err.kind, err.retryable, err.status) == (kind, retryable, status)
    assert err.retry_after_s == (pytest.approx(wait) if wait is not None else None)
    assert err.provider == "p" and err.model == "m"


def test_messages_come_from_the_wire_body() -> None:
    err = classify_http_error(529, {}, anthropic_body("overloaded_error", "Overloaded"))
    assert err.message == "Overloaded"
    err = classify_http_error(400, {}, openai_body("Invalid 'messages[0]'", "invalid_request_error"))
    assert err.message == "Invalid 'messages[0]'"
    err = classify_http_error(502, {}, "<html>nginx</html>")
    assert err.message == "Bad Gateway"  # an HTML page is no message
    err = classify_http_error(500, {}, "plain text failure")
    assert err.message == "plain text failure"
    assert str(err) == "HTTP 500 server: plain text failure"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (openai_body("m", "t", "c"), ("m", "t", "c")),
        (anthropic_body("overloaded_error", "Overloaded"), ("Overloaded", "overloaded_error", None)),
        (GEMINI_QUOTA, (json.loads(GEMINI_QUOTA)[0]["error"]["message"], "RESOURCE_EXHAUSTED", "429")),
        ('{"error": "model not loaded"}', ("model not loaded", None, None)),
        (
            '{"object": "error", "message": "vllm says no", "type": "BadRequestError", "code": 400}',
            ("vllm says no", "BadRequestError", "400"),
        ),
        ("not json", (None, None, None)),
        ("", (None, None, None)),
    ],
)
def test_parse_error_body_shapes(body: str, expected: tuple[str | None, ...]) -> None:
    assert parse_error_body(body) == expected


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded"),
        ({"type": "error", "error": {"type": "api_error", "message": "Internal"}}, "server"),
        ({"error": {"message": "The model produced an error", "type": "server_error", "code": None}}, "server"),
        ({"error": {"message": "something odd"}}, "server"),
        (
            {"error": {"message": "maximum context length is 8192 tokens", "code": "context_length_exceeded"}},
            "context_window",
        ),
        ({"error": {"code": 429, "message": "Too many requests"}}, "rate_limit"),
        ({"error": {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"}}, "rate_limit"),
        (
            {"error": {"message": "Output blocked by content filtering policy", "code": "content_filter"}},
            "content_policy",
        ),
        ({"error": {"message": "Invalid parameter", "type": "invalid_request_error"}}, "bad_request"),
    ],
)
def test_error_objects_inside_200(obj: dict, kind: str) -> None:
    err = classify_error_object(obj, status=200, provider="p", model="m")
    assert err.kind == kind
    assert err.status == 200
    assert err.body is not None and json.loads(err.body) == obj


def _request(**timeouts: float) -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions", extensions={"timeout": timeouts})


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (httpx.ConnectTimeout("t", request=_request(connect=2.0)), "timeout", "connecting timed out within 2 s"),
        (httpx.ReadTimeout("t", request=_request(read=0.25)), "timeout", "no response headers within 0.25 s"),
        (httpx.WriteTimeout("t", request=_request(write=1.0)), "timeout", "write timeout"),
        (httpx.PoolTimeout("t", request=_request(pool=3.0)), "timeout", "pool timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused", request=_request()), "connection", "could not connect"),
        (httpx.RemoteProtocolError("peer closed connection", request=_request()), "connection", "connection failed"),
        (httpx.ReadError("reset", request=_request()), "connection", "connection failed"),
        (httpx.DecodingError("bad gzip", request=_request()), "malformed", "could not be decoded"),
    ],
)
def test_transport_exceptions(exc: httpx.HTTPError, kind: str, words: str) -> None:
    err = from_httpx_exception(exc, provider="p", model="m")
    assert err.kind == kind and err.retryable
    assert words in err.message


def test_mid_stream_wording() -> None:
    stall = from_httpx_exception(httpx.ReadTimeout("t", request=_request(read=0.5)), mid_stream=True)
    assert stall.kind == "timeout" and "stalled mid-response: no data within 0.5 s" in stall.message
    drop = from_httpx_exception(httpx.RemoteProtocolError("incomplete chunked read"), mid_stream=True)
    assert drop.kind == "connection" and "dropped mid-response" in drop.message


def test_secrets_are_masked_in_message_and_body() -> None:
    key = "FAKE-SECRET-0123456789"
    body = openai_body(f"Incorrect API key provided: {key}. Header was Bearer {key}", "invalid_request_error")
    err = classify_http_error(401, {}, body, secrets=auth_secrets(key, {"authorization": f"Bearer {key}"}))
    assert key not in str(err) and key not in (err.body or "") and key not in repr(err.args)
    assert "***" in err.message
    exc = httpx.ConnectError(f"failed for {key}")
    assert key not in str(from_httpx_exception(exc, secrets=[key]))


def test_auth_secrets_picks_credential_headers_only() -> None:
    found = auth_secrets("k-1234", {"authorization": "Bearer tok-5678", "x-title": "workbench", "api-key": "az-9999"})
    assert set(found) == {"k-1234", "Bearer tok-5678", "tok-5678", "az-9999"}
    assert redact("short abc", ["abc"]) == "short abc"  # too short to mask safely


def test_long_messages_are_truncated() -> None:
    err = classify_http_error(400, {}, openai_body("x" * 5000))
    assert len(err.message) <= 500
