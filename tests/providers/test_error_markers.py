"""The provider error texts `workbench/providers/errors.py` classifies by their words, one sample per marker.

Providers say "the prompt is too long", "blocked by policy" or "out of credit" only in prose (Anthropic's prompt
too long, Gemini's token count, Azure's content filter ...): no status, type or code tells those apart from any
other 400 or 429, so these stay text markers. Each marker must be exercised by a sample here, in the shape its
provider sends, and each sample's status alone would have given another kind: the words are what decide."""

from __future__ import annotations

import json

import pytest

from workbench.providers import errors
from workbench.providers.errors import classify_http_error, parse_error_body


def openai(message: str, type_: str | None = "invalid_request_error", code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def anthropic(message: str, type_: str = "invalid_request_error") -> str:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}})


def gemini(status: int, message: str, reason: str) -> str:
    return json.dumps([{"error": {"code": status, "message": message, "status": reason}}])


# (what, status, body, kind)
SAMPLES = [
    (
        "OpenAI, over the window",
        400,
        openai(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens."
            " Please reduce the length of the messages.",
            code="context_length_exceeded",
        ),
        "context_window",
    ),
    (
        "Anthropic, over the window",
        400,
        anthropic("prompt is too long: 210000 tokens > 200000 maximum"),
        "context_window",
    ),
    (
        "Gemini, over the window",
        400,
        gemini(
            400, "The input token count (1200000) exceeds the maximum number of tokens allowed.", "INVALID_ARGUMENT"
        ),
        "context_window",
    ),
    (
        "Bedrock-style, over the window",
        400,
        json.dumps({"message": "Input is too long for requested model."}),
        "context_window",
    ),
    ("too many input tokens", 400, openai("Too many input tokens: 40000 > 32768."), "context_window"),
    (
        "Ollama-style string error",
        400,
        json.dumps({"error": "prompt too long; exceeded max context length by 512 tokens"}),
        "context_window",
    ),
    (
        "context window, in words",
        400,
        openai("The request exceeds the model's context window of 32768 tokens."),
        "context_window",
    ),
    ("context_window, as a code", 400, openai("Request too large.", code="context_window_exceeded"), "context_window"),
    (
        "Azure, content filter",
        400,
        openai(
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            type_=None,
            code="content_filter",
        ),
        "content_policy",
    ),
    (
        "Azure, the inner code as the code",
        400,
        openai("The prompt was blocked.", type_=None, code="ResponsibleAIPolicyViolation"),
        "content_policy",
    ),
    (
        "OpenAI images, policy code",
        400,
        openai("Your request was rejected.", code="content_policy_violation"),
        "content_policy",
    ),
    ("content policy, in words", 400, openai("Output blocked by content policy."), "content_policy"),
    (
        "OpenAI images, safety system",
        400,
        openai("Your request was rejected as a result of our safety system."),
        "content_policy",
    ),
    (
        "OpenAI reasoning models, invalid prompt",
        400,
        openai(
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
            code="invalid_prompt",
        ),
        "content_policy",
    ),
    ("usage policies", 400, anthropic("This request would violate our usage policies."), "content_policy"),
    (
        "OpenAI, out of quota",
        429,
        openai(
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        ),
        "quota",
    ),
    (
        "Anthropic, out of credit",
        400,
        anthropic(
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade."
        ),
        "quota",
    ),
    ("Anthropic, usage limits", 400, anthropic("You have reached your specified API usage limits."), "quota"),
    ("a spend limit", 429, openai("Workspace spend limit reached.", type_="rate_limit_error"), "quota"),
    (
        "a spending limit",
        429,
        openai("You have exceeded your monthly spending limit.", type_="rate_limit_error"),
        "quota",
    ),
    ("insufficient credits", 400, json.dumps({"error": {"code": 400, "message": "Insufficient credits."}}), "quota"),
]


@pytest.mark.parametrize(("what", "status", "body", "kind"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_the_words_decide_the_kind(what: str, status: int, body: str, kind: str) -> None:
    by_status = classify_http_error(status, {}, None).kind
    assert by_status != kind  # the status alone says something else
    assert classify_http_error(status, {}, body).kind == kind


MARKERS = [
    (name, marker)
    for name in ("_CONTEXT_MARKERS", "_POLICY_MARKERS", "_QUOTA_MARKERS")
    for marker in getattr(errors, name)
]


@pytest.mark.parametrize(("group", "marker"), MARKERS, ids=[m[1] for m in MARKERS])
def test_every_marker_has_a_sample(group: str, marker: str) -> None:
    """What the classifier reads of each sample (message, type, code) contains the marker somewhere."""
    read = [" ".join(x for x in parse_error_body(body) if x).lower() for _, _, body, _ in SAMPLES]
    assert any(marker in text for text in read), f"{group} {marker!r} has no sample in {__name__}"
