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
from workbench.providers.base import (
    Adapter,
    ChatRequest,
    Chunk,
    StreamEnd,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UnsupportedContent,
    UsageReport,
)
from workbench.providers.content import (
    FinishReason,
    Message,
    ToolCall,
    ToolCallAssembler,
    ToolChoice,
    ToolSpec,
    coerce_tools,
)
from workbench.providers.errors import (
    SHAPE_ERRORS,
    auth_secrets,
    check_tool_calls,
    classify_error_object,
    classify_http_error,
    from_httpx_exception,
    malformed,
    read_error_text,
    shape_error,
    stream_ended_early,
)
from workbench.providers.sse import SSEDecoder, drain

__all__ = [
    "AnthropicAdapter",
    "anthropic_usage",
    "build_anthropic_body",
    "decode_request",
    "tool_use_block",
    "input_json_deltas",
    "ANTHROPIC_VERSION",
    "FINISH",
]

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


#: the wire's stop reasons -> the normalized finish reasons
FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def encode_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Messages in Messages-API form (system turns excluded: they go to `system`). An assistant turn's tool calls
    become `tool_use` blocks; tool results become `tool_result` blocks of one user turn (consecutive results,
    and a user text right after them, share that turn, as the API wants)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
                for c in message.tool_calls
            ]
            out.append({"role": "assistant", "content": blocks})
        elif message.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if message.is_error:
                block["is_error"] = True
            last = out[-1] if out else None
            if last is not None and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif message.role == "user" and out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
            out[-1]["content"].append({"type": "text", "text": message.content})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def _arguments(text: str) -> Any:
    """A tool call's arguments as the object `tool_use.input` wants (text that is not JSON is sent as is,
    under `_raw`, rather than dropped)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": value}


def tool_use_block(call: ToolCall, *, streamed: bool) -> dict[str, Any]:
    """An assistant turn's `tool_use` block for `call`, as the API writes it in a response (and a proxy or the
    simulator must): whole, its `input` the parsed arguments; streamed, an empty `input` whose JSON follows in
    `input_json_delta` events (`input_json_deltas`). Arguments that are not JSON stay text (a broken answer
    is passed on as it was, for the reader to classify)."""
    if streamed:
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
    try:
        value: Any = json.loads(call.arguments or "{}")
    except ValueError:
        value = call.arguments
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": value}


def input_json_deltas(index: int, pieces: list[str]) -> list[dict[str, Any]]:
    """The `content_block_delta` events that stream a tool_use block's arguments, one per piece."""
    return [
        {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}}
        for p in pieces
    ]


def encode_tool(tool: ToolSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters}
    if tool.description:
        out["description"] = tool.description
    return out


def encode_tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    """`tool_choice` in Messages form: auto, any (= required), tool (named), none; `parallel_tool_calls=False`
    is its `disable_parallel_tool_use`."""
    if choice is None and parallel is not False:
        return None
    mode = choice.mode if choice is not None else "auto"
    out: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if choice is not None and choice.mode == "tool":
        out["name"] = choice.name
    if parallel is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def decode_request(body: Mapping[str, Any]) -> ChatRequest:
    """A Messages request body read back into a `ChatRequest` (what the simulator and a proxy read);
    ValueError (or TypeError) when it has a shape this cannot read."""
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise ValueError("messages: must be a list")
    names: dict[str, str] = {}
    typed: list[Message] = []
    for raw in raw_messages:
        role, content = raw.get("role"), raw.get("content")
        if isinstance(content, str):
            typed.append(Message(role, content))
            continue
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content or ():
            kind = block.get("type")
            if kind == "text":
                texts.append(_text(block.get("text")))
            elif kind == "tool_use":
                names[str(block.get("id"))] = str(block.get("name"))
                arguments = json.dumps(block.get("input") or {}, separators=(",", ":"), ensure_ascii=False)
                calls.append(ToolCall(str(block.get("id")), str(block.get("name")), arguments))
            elif kind == "tool_result":
                result = block.get("content")
                text = (
                    result
                    if isinstance(result, str)
                    else "".join(_text(p.get("text")) for p in result or () if p.get("type") == "text")
                )
                call_id = str(block.get("tool_use_id"))
                typed.append(Message.tool(call_id, names.get(call_id, ""), text, is_error=bool(block.get("is_error"))))
        if texts or calls or role == "assistant":
            typed.append(Message(role, "".join(texts), tuple(calls)))
    system = body.get("system")
    if isinstance(system, list):
        system = "".join(_text(b.get("text")) for b in system)
    choice = body.get("tool_choice")
    parallel: bool | None = None
    tool_choice: ToolChoice | None = None
    if isinstance(choice, dict):
        mode = {"any": "required"}.get(str(choice.get("type")), str(choice.get("type")))
        tool_choice = ToolChoice.tool(str(choice.get("name"))) if mode == "tool" else ToolChoice(mode)  # type: ignore[arg-type]
        if choice.get("disable_parallel_tool_use"):
            parallel = False
    max_tokens = body.get("max_tokens")
    return ChatRequest(
        model=str(body.get("model") or ""),
        messages=tuple(typed),
        system=system or None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else 1024,
        stream=bool(body.get("stream")),
        tools=coerce_tools(body.get("tools")),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
    )


def _finish(reason: str | None) -> FinishReason | None:
    return FINISH.get(reason) if reason else None


def build_anthropic_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body for `request`. System messages found in `messages` join `system` (Anthropic has no system
    role). `extra_body` is merged last; a key set to None there is removed."""
    systems = [request.system] if request.system else []
    systems += [m.content for m in request.messages if m.role == "system"]
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": encode_messages(request.messages),
    }
    if systems:
        body["system"] = "\n\n".join(systems)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:  # (the API refuses tool_choice without tools)
        body["tools"] = [encode_tool(t) for t in request.tools]
        choice = encode_tool_choice(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
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
            blocks = _Blocks()
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
                            elif delta:
                                extra = blocks.delta(obj.get("index", 0), delta)
                                if extra is not None:
                                    yield extra
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
                            if blocks.calls:
                                check_tool_calls(
                                    blocks.calls, provider=self.provider_name, model=model, secrets=self._secrets
                                )
                            if stop and stop not in FINISH:
                                yield UnsupportedContent(f"stop_reason:{stop}")
                            yield StreamEnd(_finish(stop), stop)
                            return
                        elif kind == "error":
                            raise self._error_object(obj, model)
                        elif kind == "content_block_start":
                            block = obj.get("content_block") or {}
                            for extra in blocks.start(obj.get("index", 0), block):
                                yield extra
                        elif kind not in ("ping", "content_block_stop") and kind not in blocks.seen:
                            blocks.seen.add(kind)
                            yield UnsupportedContent(f"event:{kind}", event.data[:200])
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
        blocks = _Blocks()
        out: list[Chunk] = []
        text: list[str] = []
        text_at = -1
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                raise TypeError("a content block is not an object")
            for chunk in blocks.start(index, block, whole=True):
                if type(chunk) is TextDelta:
                    text.append(chunk.text)  # one TextDelta for the whole text, where its first block was
                    text_at = len(out) if text_at < 0 else text_at
                else:
                    out.append(chunk)
        if text_at >= 0:
            out.insert(text_at, TextDelta("".join(text)))
        if blocks.calls:
            check_tool_calls(blocks.calls, provider=self.provider_name, model=model, secrets=self._secrets)
        raw_usage = obj.get("usage")
        if isinstance(raw_usage, dict):
            normalized = anthropic_usage(raw_usage)
            if normalized is not None:
                out.append(UsageReport(normalized, raw=raw_usage))
        stop = _reason(obj.get("stop_reason"))
        if stop and stop not in FINISH:
            out.append(UnsupportedContent(f"stop_reason:{stop}"))
        out.append(StreamEnd(_finish(stop), stop))
        return out


class _Blocks:
    """The content blocks of one answer: tool_use blocks numbered as tool calls (0, 1 ... whatever their block
    index), thinking as `ThinkingDelta`, a block or delta type not known here reported once as
    `UnsupportedContent`."""

    __slots__ = ("calls", "call_of", "seen")

    #: known kinds that carry nothing to keep: the thinking block's signature, citations (the text is kept)
    QUIET_DELTAS = frozenset({"signature_delta", "citations_delta"})

    def __init__(self) -> None:
        self.calls = ToolCallAssembler()
        self.call_of: dict[int, int] = {}  # block index -> tool call index
        self.seen: set[str] = set()

    def start(self, index: int, block: Mapping[str, Any], *, whole: bool = False) -> list[Chunk]:
        kind = block.get("type")
        if kind == "text":
            text = _text(block.get("text"))
            return [TextDelta(text)] if text else []
        if kind == "thinking":
            thinking = _text(block.get("thinking"))
            return [ThinkingDelta(thinking)] if thinking or whole else []
        if kind == "redacted_thinking":
            return [ThinkingDelta("")]
        if kind == "tool_use":
            call = self.call_of[index] = len(self.call_of)
            call_id, name = _text(block.get("id")), _text(block.get("name"))
            given = block.get("input")
            # a streamed block starts with `input: {}` and its JSON follows in input_json_delta events
            arguments = json.dumps(given, separators=(",", ":"), ensure_ascii=False) if whole or given else ""
            self.calls.add(call, call_id, name, arguments)
            return [ToolCallDelta(call, call_id, name, arguments)]
        return self._unknown(f"content_block:{kind}", block)

    def delta(self, index: int, delta: Mapping[str, Any]) -> Chunk | None:
        kind = delta.get("type")
        if kind == "input_json_delta":
            fragment = _text(delta.get("partial_json"))
            call = self.call_of.get(index)
            if call is None:
                raise ValueError(f"input_json_delta for block {index}, which is not a tool_use block")
            self.calls.add(call, None, None, fragment)
            return ToolCallDelta(call, None, None, fragment) if fragment else None
        if kind == "thinking_delta":
            return ThinkingDelta(_text(delta.get("thinking")))
        if kind in self.QUIET_DELTAS:
            return None
        found = self._unknown(f"delta:{kind}", delta)
        return found[0] if found else None

    def _unknown(self, kind: str, data: Mapping[str, Any]) -> list[Chunk]:
        if kind in self.seen:
            return []
        self.seen.add(kind)
        return [UnsupportedContent(kind, json.dumps(data, default=str)[:200])]
