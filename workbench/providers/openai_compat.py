"""The OpenAI Chat Completions wire format, for OpenAI itself and every compatible server.

Ollama, vLLM, OpenRouter, Groq, Gemini's `.../v1beta/openai` endpoint and the embedded simulator all speak it;
they differ only in base URL, headers and a few quirks handled here:
- usage in streams is requested with `stream_options.include_usage`; some servers refuse that parameter with a
  400, so in "auto" mode the adapter retries once without it and remembers the refusal for this instance;
- the usage chunk arrives with empty `choices`, after the last content chunk and before `[DONE]`;
- a stream that closes without `[DONE]` was cut off (`connection`), whatever the transport said;
- an `{"error": ...}` object may arrive inside an HTTP 200 body or stream (or as `finish_reason: "error"`);
- usage buckets: OpenAI's `prompt_tokens` *includes* `cached_tokens` and `completion_tokens` *includes*
  `reasoning_tokens`; Gemini (and xAI) report reasoning *apart*, detected by `total_tokens`.

The streaming loop is the per-token path: it feeds raw bytes to the SSE decoder inline, parses each event's
JSON once, and allocates nothing per token beyond the `TextDelta` it yields.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
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
    "OpenAICompatAdapter",
    "openai_usage",
    "build_openai_body",
    "decode_request",
    "encode_message",
    "tool_call_deltas",
    "FINISH",
]

_loads = json.loads
#: message keys of a whole (non-streamed) answer this adapter reads or knows to carry nothing to keep
_KNOWN_MESSAGE = frozenset(
    {"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning", "reasoning_details", "annotations"}
)
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


def openai_usage(raw: Mapping[str, Any]) -> Usage:
    """Map an OpenAI-format `usage` object into the normalized, non-overlapping buckets."""
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    prompt_details = raw.get("prompt_tokens_details") or {}
    cached = _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    if not cached:
        cached = _int(raw.get("prompt_cache_hit_tokens"))  # DeepSeek's own name for the same figure
    completion_details = raw.get("completion_tokens_details") or {}
    reasoning = _int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    total = raw.get("total_tokens")
    # Gemini's compatible endpoint (and xAI) count reasoning outside completion_tokens; the total gives it away.
    # Without a total, reasoning larger than the whole completion can only have been reported apart.
    reasoning_apart = reasoning > 0 and (
        (total is not None and _int(total) == prompt + completion + reasoning)
        or (total is None and reasoning > completion)
    )
    output = completion if reasoning_apart else max(completion - reasoning, 0)
    return Usage(
        input_tokens=max(prompt - cached, 0),
        cache_read_tokens=cached,
        output_tokens=output,
        reasoning_tokens=reasoning,
        input_source="reported" if "prompt_tokens" in raw else "estimated",
        output_source="reported" if "completion_tokens" in raw else "estimated",
    )


#: the wire's finish reasons -> the normalized ones (`function_call`: the legacy single-function form)
FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def encode_message(message: Message) -> dict[str, Any]:
    """A message in chat-completions form. The wire has no `is_error` on tool results: a failed tool's result
    says so in its text ("error: ..."), which is how the model learns it."""
    out = message.to_dict()
    if message.role == "tool" and message.is_error and not message.content.lower().startswith("error"):
        out["content"] = f"error: {message.content}"
    return out


def tool_call_deltas(index: int, call: ToolCall, pieces: list[str]) -> list[dict[str, Any]]:
    """The streamed `delta` objects of one tool call, as OpenAI writes them (and a proxy or the simulator must):
    the first names the call (id, type, name, empty arguments), the next carry the arguments' pieces."""
    head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
    return [{"tool_calls": [head]}] + [
        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]} for piece in pieces
    ]


def encode_tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def encode_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def build_openai_body(request: ChatRequest, *, include_usage: bool) -> dict[str, Any]:
    """The JSON body for `request`. `extra_body` is merged last; a key set to None there is removed (e.g.
    `{"max_tokens": None, "max_completion_tokens": 512}` for models that refuse `max_tokens`)."""
    messages = [encode_message(m) for m in request.messages]
    if request.system:
        messages = [{"role": "system", "content": request.system}, *messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": request.max_tokens}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:  # (the API refuses tool_choice and parallel_tool_calls without tools)
        body["tools"] = [encode_tool(t) for t in request.tools]
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.tool_choice is not None:
            body["tool_choice"] = encode_tool_choice(request.tool_choice)
    if request.stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    for key, value in request.extra_body.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def decode_request(body: Mapping[str, Any]) -> ChatRequest:
    """A chat-completions request body read back into a `ChatRequest` (the simulator and a proxy read what the
    adapter writes); ValueError (or TypeError) when it has a shape this cannot read."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ValueError("messages: must be a list")
    system = [m for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")]
    typed = []
    names: dict[str, str] = {}
    for raw in messages:
        if not isinstance(raw, dict) or raw.get("role") in ("system", "developer"):
            continue
        message = Message.from_dict(raw)
        for call in message.tool_calls:
            names[call.id] = call.name
        if message.role == "tool" and not message.name:
            message = replace(message, name=names.get(message.tool_call_id or "", ""))
        typed.append(message)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = ToolChoice.tool(str((choice.get("function") or {}).get("name") or ""))
    parallel = body.get("parallel_tool_calls")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatRequest(
        model=str(body.get("model") or ""),
        messages=tuple(typed),
        system="\n\n".join(_text_of(m.get("content")) for m in system) or None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else 1024,
        stream=bool(body.get("stream")),
        tools=coerce_tools(body.get("tools")),
        tool_choice=choice,
        parallel_tool_calls=parallel if isinstance(parallel, bool) else None,
    )


def _finish(reason: str) -> FinishReason | None:
    if type(reason) is not str:
        raise TypeError("finish_reason is not text")
    return FINISH.get(reason)


#: delta keys this adapter reads; any other key with a value is reported as `UnsupportedContent`
_KNOWN_DELTA = frozenset(
    {"role", "content", "refusal", "tool_calls", "function_call", "reasoning_content", "reasoning", "reasoning_details"}
)
_IGNORED_DELTA = frozenset({"role", "annotations", "reasoning_details"})


def delta_chunks(delta: Mapping[str, Any], seen: set[str]) -> list[Chunk]:
    """The chunks of a streamed delta beyond plain `content` (tool calls, reasoning, refusal, unknown kinds);
    `seen` holds the unknown kinds already reported on this stream (each is reported once)."""
    out: list[Chunk] = []
    for key, value in delta.items():
        if value is None or value == "" or key == "content" or key in _IGNORED_DELTA:
            continue
        if key == "tool_calls":
            for call in value:
                function = call.get("function") or {}
                arguments = function.get("arguments") or ""
                if type(arguments) is not str:
                    raise TypeError("tool call arguments are not text")
                out.append(ToolCallDelta(int(call.get("index", 0)), call.get("id"), function.get("name"), arguments))
        elif key == "function_call":  # the legacy single-function form: call 0
            out.append(ToolCallDelta(0, None, value.get("name"), value.get("arguments") or ""))
        elif key in ("reasoning_content", "reasoning"):
            out.append(ThinkingDelta(_text_of(value)))
        elif key == "refusal":
            out.append(TextDelta(_text_of(value)))  # the model's own words for declining: the answer it gave
        elif key not in _KNOWN_DELTA and key not in seen:
            seen.add(key)
            out.append(UnsupportedContent(f"delta:{key}", json.dumps(value, default=str)[:200]))
    return out


def _text_of(content: Any) -> str:
    """Message content as text: a string, or a list of parts (some servers) whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        return ""
    raise TypeError(f"message content is a {type(content).__name__}, not text")


class OpenAICompatAdapter(Adapter):
    """POST {base_url}/chat/completions; base_url is the API root including its version (…/v1)."""

    wire: ClassVar[str] = "openai"
    API_ROOT: ClassVar[str] = "/v1"

    def _prepare(self) -> None:
        api_key = self.api_key
        self._url = f"{self.base_url}/chat/completions"
        sent: dict[str, str] = {}
        if api_key:
            sent["authorization"] = f"Bearer {api_key}"
        sent.update({k.lower(): v for k, v in self.headers.items()})
        self._headers = sent
        self._secrets = auth_secrets(api_key, sent)
        #: set when the server refused `stream_options` once ("auto" mode): later streams go without it
        self.stream_options_refused = False

    def _headers_for(self, request: ChatRequest) -> dict[str, str]:
        if not request.extra_headers:
            return self._headers
        return {**self._headers, **{k.lower(): v for k, v in request.extra_headers.items()}}

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._stream(request) if request.stream else self._complete(request)

    async def _send(self, request: ChatRequest, body: dict[str, Any]) -> httpx.Response:
        http_request = self.client.build_request("POST", self._url, json=body, headers=self._headers_for(request))
        try:
            return await self.client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise from_httpx_exception(
                exc, provider=self.provider_name, model=request.model, secrets=self._secrets
            ) from None

    async def _error(self, response: httpx.Response, request: ChatRequest, text: str | None = None) -> Exception:
        if text is None:
            text = await read_error_text(response)
        return classify_http_error(
            response.status_code,
            response.headers,
            text,
            provider=self.provider_name,
            model=request.model,
            secrets=self._secrets,
        )

    async def _stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        provider, model = self.provider_name, request.model
        include_usage = self.stream_usage == "always" or (
            self.stream_usage == "auto" and not self.stream_options_refused
        )
        body = build_openai_body(request, include_usage=include_usage)
        while True:
            response = await self._send(request, body)
            try:
                if response.status_code != 200:
                    text = await read_error_text(response)
                    if (
                        response.status_code == 400
                        and include_usage
                        and self.stream_usage == "auto"
                        and "stream_options" in text
                    ):
                        # Refused the usage option: once more without it, and never ask this server again.
                        self.stream_options_refused = True
                        include_usage = False
                        body = build_openai_body(request, include_usage=False)
                        continue
                    raise await self._error(response, request, text)
                feed = SSEDecoder().feed
                finish: str | None = None
                usage: dict[str, Any] | None = None
                calls = ToolCallAssembler()
                seen: set[str] = set()
                try:
                    if "json" in response.headers.get("content-type", ""):
                        # Not a stream after all: an error object, or a server that ignored `stream: true`.
                        for chunk in self._parse_completion(await response.aread(), model):
                            yield chunk
                        return
                    chunks = response.aiter_bytes()
                    async for raw in chunks:
                        for event in feed(raw):
                            data = event.data
                            if data == "[DONE]":
                                if usage:
                                    yield UsageReport(openai_usage(usage), raw=usage)
                                await drain(chunks)
                                if calls:
                                    check_tool_calls(calls, provider=provider, model=model, secrets=self._secrets)
                                yield StreamEnd(_finish(finish) if finish else None, finish)
                                return
                            try:
                                obj = _loads(data)
                            except ValueError:
                                obj = None
                            if type(obj) is not dict:
                                raise malformed(
                                    "stream event is not a JSON object",
                                    provider=provider,
                                    model=model,
                                    sample=data,
                                    secrets=self._secrets,
                                )
                            choices = obj.get("choices")
                            if choices:
                                choice = choices[0]
                                delta = choice.get("delta")
                                if delta:
                                    content = delta.get("content")
                                    if content:
                                        if type(content) is not str:
                                            content = _text_of(content)  # a list of parts (rare)
                                        if content:
                                            yield TextDelta(content)
                                    if len(delta) > 1 or content is None:  # more than text: tool calls ...
                                        for extra in delta_chunks(delta, seen):
                                            if type(extra) is ToolCallDelta:
                                                calls.add(extra.index, extra.id, extra.name, extra.arguments)
                                            yield extra
                                reason = choice.get("finish_reason")
                                if reason:
                                    if reason == "error":
                                        raise self._error_object(obj.get("error") or {}, model)
                                    if type(reason) is not str:
                                        raise TypeError("finish_reason is not text")
                                    finish = reason
                                    if reason not in FINISH and reason not in seen:
                                        seen.add(reason)
                                        yield UnsupportedContent(f"finish_reason:{reason}")
                            elif obj.get("error"):
                                raise self._error_object(obj, model)
                            chunk_usage = obj.get("usage")
                            if chunk_usage:
                                usage = chunk_usage  # usually once; servers that repeat it end with the total
                except httpx.HTTPError as exc:
                    raise from_httpx_exception(
                        exc, provider=provider, model=model, mid_stream=True, secrets=self._secrets
                    ) from None
                except SHAPE_ERRORS as exc:  # an event of a shape the code above cannot read
                    raise shape_error(exc, provider=provider, model=model, secrets=self._secrets) from None
                raise stream_ended_early(provider=provider, model=model, what="[DONE]")
            finally:
                await response.aclose()

    def _error_object(self, obj: Any, model: str) -> Exception:
        return classify_error_object(
            obj or {"message": "the server ended the stream with finish_reason 'error'"},
            status=200,
            provider=self.provider_name,
            model=model,
            secrets=self._secrets,
        )

    async def _complete(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        response = await self._send(request, build_openai_body(request, include_usage=False))
        raw = await self._whole_body(response, request.model, lambda: self._error(response, request))
        for chunk in self._parse_completion(raw, request.model):
            yield chunk

    def _parse_completion(self, raw: bytes, model: str) -> list[Chunk]:
        """Chunks for a whole (non-streamed) chat completion body; an unreadable shape is `malformed`."""
        try:
            return self._completion_chunks(raw, model)
        except SHAPE_ERRORS as exc:
            raise shape_error(exc, provider=self.provider_name, model=model, secrets=self._secrets) from None

    def _completion_chunks(self, raw: bytes, model: str) -> list[Chunk]:
        try:
            obj = _loads(raw)
        except ValueError:
            obj = None
        if type(obj) is not dict:
            if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "error" in obj[0]:
                raise self._error_object(obj, model)  # Gemini wraps errors in a list
            raise malformed(
                "response body is not a JSON object",
                provider=self.provider_name,
                model=model,
                sample=raw[:500].decode("utf-8", "replace"),
                secrets=self._secrets,
            )
        if obj.get("error"):
            raise self._error_object(obj, model)
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed(
                "response has no choices",
                provider=self.provider_name,
                model=model,
                sample=raw[:500].decode("utf-8", "replace"),
                secrets=self._secrets,
            )
        choice = choices[0]
        message = choice.get("message") or {}
        out: list[Chunk] = []
        if not isinstance(message, dict):
            raise TypeError("message is not an object")
        thinking = message.get("reasoning_content") or message.get("reasoning")
        if thinking:
            out.append(ThinkingDelta(_text_of(thinking)))
        text = _text_of(message.get("content")) or _text_of(message.get("refusal"))
        if text:
            out.append(TextDelta(text))
        calls = ToolCallAssembler()
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            arguments = function.get("arguments") or ""
            if type(arguments) is not str:
                raise TypeError("tool call arguments are not text")
            delta = ToolCallDelta(index, call.get("id"), function.get("name"), arguments)
            calls.add(index, delta.id, delta.name, arguments)
            out.append(delta)
        seen: set[str] = set()
        for key, value in message.items():
            if value and key not in _KNOWN_MESSAGE and key not in seen:
                seen.add(key)
                out.append(UnsupportedContent(f"message:{key}", json.dumps(value, default=str)[:200]))
        if calls:
            check_tool_calls(calls, provider=self.provider_name, model=model, secrets=self._secrets)
        usage = obj.get("usage")
        if isinstance(usage, dict) and usage:
            out.append(UsageReport(openai_usage(usage), raw=usage))
        reason = choice.get("finish_reason")
        if reason is not None and type(reason) is not str:
            raise TypeError("finish_reason is not text")
        if reason and reason not in FINISH:
            out.append(UnsupportedContent(f"finish_reason:{reason}"))
        out.append(StreamEnd(_finish(reason) if reason else None, reason))
        return out
