"""The Anthropic Messages wire format (POST /v1/messages), streamed or not.

Stream events: `message_start` (the prompt side of usage), `content_block_start`/`_delta`/`_stop` (text arrives
as `text_delta`; `thinking_delta`, `signature_delta` and `input_json_delta` are not text, though thinking counts
in `output_tokens`), `message_delta` (stop reason and usage), `message_stop` (the terminator), `ping`
(keep-alive, ignored) and `error` (e.g. `overloaded_error` mid-stream, classified like an HTTP error).

Usage rules: `message_delta` usage is *cumulative*: each field's last value wins, never a sum. `input_tokens`
already *excludes* cache reads and writes, so it maps straight to the fresh-input bucket; cache writes are split
by TTL from `cache_creation` when present, else all of `cache_creation_input_tokens` counts as 5-minute writes.
Anthropic reports no separate reasoning count: thinking is inside `output_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import httpx

from workbench.accounting.usage import Usage
from workbench.providers.base import Adapter, ChatRequest, Chunk, StreamEnd, TextDelta, UsageReport
from workbench.providers.errors import (
    SHAPE_ERRORS,
    auth_secrets,
    classify_error_object,
    classify_http_error,
    from_httpx_exception,
    malformed,
    read_error_text,
    shape_error,
    stream_ended_early,
)
from workbench.providers.sse import SSEDecoder, drain

__all__ = ["AnthropicAdapter", "anthropic_usage", "build_anthropic_body", "ANTHROPIC_VERSION"]

ANTHROPIC_VERSION = "2023-06-01"
_loads = json.loads


#: a token count above this is not a count (it would also overflow SQLite's 64-bit integers)
MAX_TOKENS_REPORTED = 2**53


def _int(value: Any) -> int:
    """A reported token count: absent, null or unreadable counts 0 (clamped at 0); absurdly large is malformed."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    if number > MAX_TOKENS_REPORTED:
        raise ValueError(f"token count {value!r} out of range")
    return max(number, 0)


def _text(value: Any) -> str:
    """A text field of an event: absent is empty; anything but a string is a malformed event."""
    if value is None or type(value) is str:
        return value or ""
    raise TypeError(f"text is a {type(value).__name__}, not a string")


def _reason(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    raise TypeError(f"stop_reason is a {type(value).__name__}, not a string")


def anthropic_usage(raw: Mapping[str, Any]) -> Usage | None:
    """Map an Anthropic `usage` object (already merged across events) into the normalized buckets; None when it
    holds no token figures at all."""
    if "input_tokens" not in raw and "output_tokens" not in raw:
        return None
    written = _int(raw.get("cache_creation_input_tokens"))
    by_ttl = raw.get("cache_creation")
    if isinstance(by_ttl, dict):
        write_5m = _int(by_ttl.get("ephemeral_5m_input_tokens"))
        write_1h = _int(by_ttl.get("ephemeral_1h_input_tokens"))
        # A total larger than its TTL split: the unsplit remainder is billed at the default (5-minute) TTL.
        write_5m += max(written - write_5m - write_1h, 0)
    else:
        write_5m, write_1h = written, 0
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        output_tokens=_int(raw.get("output_tokens")),
        reasoning_tokens=0,
        input_source="reported" if "input_tokens" in raw else "estimated",
        output_source="reported" if "output_tokens" in raw else "estimated",
    )


def _merge_usage(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    # Cumulative semantics: the latest value of each field replaces the earlier one; absent/null keeps it.
    for key, value in update.items():
        if value is not None:
            into[key] = value


def build_anthropic_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body for `request`. System messages found in `messages` join `system` (Anthropic has no system
    role). `extra_body` is merged last; a key set to None there is removed."""
    systems = [request.system] if request.system else []
    messages = request.messages
    if any(m.get("role") == "system" for m in messages):
        systems += [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
        messages = [m for m in messages if m.get("role") != "system"]
    body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens, "messages": messages}
    if systems:
        body["system"] = "\n\n".join(systems)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stream:
        body["stream"] = True
    for key, value in request.extra_body.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class AnthropicAdapter(Adapter):
    """POST {base_url}/v1/messages; base_url is the API root (https://api.anthropic.com), with or without /v1."""

    wire: ClassVar[str] = "anthropic"

    @classmethod
    def continuation(
        cls, messages: list[dict[str, Any]], prefix: str, instruction: str
    ) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
        """Anthropic continues a final assistant turn (a prefill) but refuses one ending in whitespace: it is sent
        without; the continuation writes that whitespace again, and is not let repeat it. (An all-whitespace prefix
        is not sent at all: empty turns are refused too.) No instruction is needed."""
        sent = prefix.rstrip()
        echo = (prefix,) if sent == prefix else (prefix, prefix[len(sent) :])
        return ([*messages, {"role": "assistant", "content": sent}] if sent else list(messages)), echo

    def _prepare(self) -> None:
        api_key = self.api_key
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        self._url = f"{root}/v1/messages"
        sent: dict[str, str] = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
        if api_key:
            sent["x-api-key"] = api_key
        sent.update({k.lower(): v for k, v in self.headers.items()})
        self._headers = sent
        self._secrets = auth_secrets(api_key, sent)

    def _headers_for(self, request: ChatRequest) -> dict[str, str]:
        if not request.extra_headers:
            return self._headers
        return {**self._headers, **{k.lower(): v for k, v in request.extra_headers.items()}}

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._stream(request) if request.stream else self._complete(request)

    async def _send(self, request: ChatRequest) -> httpx.Response:
        http_request = self.client.build_request(
            "POST", self._url, json=build_anthropic_body(request), headers=self._headers_for(request)
        )
        try:
            return await self.client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise from_httpx_exception(
                exc, provider=self.provider_name, model=request.model, secrets=self._secrets
            ) from None

    async def _http_error(self, response: httpx.Response, model: str) -> Exception:
        return classify_http_error(
            response.status_code,
            response.headers,
            await read_error_text(response),
            provider=self.provider_name,
            model=model,
            secrets=self._secrets,
        )

    def _error_object(self, obj: Any, model: str) -> Exception:
        return classify_error_object(obj, status=200, provider=self.provider_name, model=model, secrets=self._secrets)

    def _malformed(self, what: str, model: str, sample: str) -> Exception:
        return malformed(what, provider=self.provider_name, model=model, sample=sample, secrets=self._secrets)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        model = request.model
        response = await self._send(request)
        try:
            if response.status_code != 200:
                raise await self._http_error(response, model)
            feed = SSEDecoder().feed
            usage: dict[str, Any] = {}
            stop: str | None = None
            try:
                if "json" in response.headers.get("content-type", ""):
                    for chunk in self._parse_message(await response.aread(), model):
                        yield chunk
                    return
                chunks = response.aiter_bytes()
                async for raw in chunks:
                    for event in feed(raw):
                        try:
                            obj = _loads(event.data)
                        except ValueError:
                            obj = None
                        if type(obj) is not dict:
                            raise self._malformed("stream event is not a JSON object", model, event.data)
                        kind = obj.get("type") or event.event
                        if kind == "content_block_delta":
                            delta = obj.get("delta")
                            if delta and delta.get("type") == "text_delta":
                                text = delta.get("text")
                                if text and type(text) is not str:
                                    text = _text(text)
                                if text:
                                    yield TextDelta(text)
                        elif kind == "message_start":
                            start_usage = (obj.get("message") or {}).get("usage")
                            if start_usage:
                                _merge_usage(usage, start_usage)
                                early = anthropic_usage(start_usage)
                                if early is not None and early.input_source == "reported":
                                    # the prompt side is exact from here on, even if the stream breaks later
                                    early.output_tokens, early.output_source = 0, "estimated"
                                    yield UsageReport(early, raw=dict(start_usage), final=False)
                        elif kind == "message_delta":
                            reason = _reason((obj.get("delta") or {}).get("stop_reason"))
                            if reason:
                                stop = reason
                            delta_usage = obj.get("usage")
                            if delta_usage:
                                _merge_usage(usage, delta_usage)
                        elif kind == "message_stop":
                            normalized = anthropic_usage(usage)
                            if normalized is not None:
                                yield UsageReport(normalized, raw=usage)
                            await drain(chunks)
                            yield StreamEnd(stop)
                            return
                        elif kind == "error":
                            raise self._error_object(obj, model)
                        elif kind == "content_block_start":
                            block = obj.get("content_block") or {}
                            if block.get("type") == "text" and block.get("text"):
                                yield TextDelta(_text(block["text"]))
                        # ping, content_block_stop and event types added later: nothing to do
            except httpx.HTTPError as exc:
                raise from_httpx_exception(
                    exc, provider=self.provider_name, model=model, mid_stream=True, secrets=self._secrets
                ) from None
            except SHAPE_ERRORS as exc:  # an event of a shape the code above cannot read
                raise shape_error(exc, provider=self.provider_name, model=model, secrets=self._secrets) from None
            raise stream_ended_early(provider=self.provider_name, model=model, what="message_stop")
        finally:
            await response.aclose()

    async def _complete(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        response = await self._send(request)
        raw = await self._whole_body(response, request.model, lambda: self._http_error(response, request.model))
        for chunk in self._parse_message(raw, request.model):
            yield chunk

    def _parse_message(self, raw: bytes, model: str) -> list[Chunk]:
        """Chunks for a whole (non-streamed) Messages response body; an unreadable shape is `malformed`."""
        try:
            return self._message_chunks(raw, model)
        except SHAPE_ERRORS as exc:
            raise shape_error(exc, provider=self.provider_name, model=model, secrets=self._secrets) from None

    def _message_chunks(self, raw: bytes, model: str) -> list[Chunk]:
        try:
            obj = _loads(raw)
        except ValueError:
            obj = None
        sample = raw[:500].decode("utf-8", "replace")
        if type(obj) is not dict:
            raise self._malformed("response body is not a JSON object", model, sample)
        if obj.get("type") == "error" or obj.get("error"):
            raise self._error_object(obj, model)
        content = obj.get("content")
        if not isinstance(content, list):
            raise self._malformed("response has no content list", model, sample)
        text = "".join(
            _text(block.get("text")) for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
        out: list[Chunk] = [TextDelta(text)] if text else []
        raw_usage = obj.get("usage")
        if isinstance(raw_usage, dict):
            normalized = anthropic_usage(raw_usage)
            if normalized is not None:
                out.append(UsageReport(normalized, raw=raw_usage))
        out.append(StreamEnd(_reason(obj.get("stop_reason"))))
        return out
