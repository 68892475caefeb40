"""OpenAI chat completions on the simulator: request parsing, JSON and SSE responses, errors, faults.

Non-stream answers are `chat.completion` objects. Streams are `data: {chunk}` events: a role-only chunk, one
chunk per token, a chunk with finish_reason, then (only with stream_options.include_usage) a chunk with
`choices: []` and the usage, then `data: [DONE]`. With include_usage every other chunk carries `"usage": null`,
as the real API does.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workbench.providers.content import Message
from workbench.providers.openai_compat import decode_request, encode_message, tool_call_deltas
from workbench.sim.faults import (
    ERROR_KINDS,
    HTTP_FAULT_STATUS,
    SimRequestError,
    answer_admitted,
    checked_tools,
    drop_connection,
    load_body,
    wait_forever,
)
from workbench.sim.plan import FrameWriter, Pacer, Plan, Prompt, message_text, sleep_ms, split_after
from workbench.sim.usage import render
from workbench.tokens import count_text

if TYPE_CHECKING:
    from workbench.sim.server import SimServer

__all__ = ["handle", "error_body"]

_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}
#: what the `unknown_content` dial sends: a delta field no API has (yet), which a client must not drop silently
UNKNOWN_DELTA = "hologram"


_FINGERPRINT = "fp_wbsim"


def error_body(err: SimRequestError) -> dict[str, Any]:
    _, err_type, code, _, _ = ERROR_KINDS[err.kind]
    return {"error": {"message": err.message, "type": err_type, "param": err.param, "code": code}}


def _error_response(err: SimRequestError) -> web.Response:
    return web.json_response(error_body(err), status=err.status, headers=err.headers)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def parse(body: Any) -> Prompt:
    if not isinstance(body, dict):
        raise SimRequestError("invalid_request", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise SimRequestError("invalid_request", "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise SimRequestError(
            "invalid_request", "'messages' must be a non-empty array of message objects", param="messages"
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise SimRequestError("invalid_request", "max_tokens must be a positive integer", param="max_tokens")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in (stop or []) if isinstance(s, str)]
    users = [m for m in messages if m.get("role") == "user"]
    focus = message_text((users or messages)[-1].get("content"))
    tools = checked_tools(body)
    typed = None
    if tools or any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        try:
            typed = decode_request(body)  # the adapter's own wire module reads it back
        except (ValueError, TypeError, AttributeError) as exc:
            raise SimRequestError("invalid_request", f"tools or tool messages: {exc}", param="tools") from None
    return Prompt(
        model=model, messages=messages, focus=focus, max_tokens=max_tokens, stop=stops, tools=tools, request=typed
    )


async def handle(server: SimServer, request: web.Request) -> web.StreamResponse:
    try:
        body = load_body(await request.read(), "We could not parse the JSON body of your request")
        prompt = parse(body)
        plan = server.admit(prompt, request.headers, "openai")
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        if options is not None and plan.behaviour.reject_stream_options:
            raise SimRequestError(
                "invalid_request", "Unrecognized request argument supplied: stream_options", param="stream_options"
            )
        if plan.fault is not None and plan.fault.kind in HTTP_FAULT_STATUS:
            raise SimRequestError.from_fault(plan.fault, prompt.model)
    except SimRequestError as err:
        return _error_response(err)
    include_usage = stream and isinstance(options, dict) and bool(options.get("include_usage"))

    async def reply() -> web.StreamResponse:
        if stream:
            return await _stream(request, plan, include_usage)
        return await _complete(request, plan)

    return await answer_admitted(plan, "openai", _error_response, reply)


async def _complete(request: web.Request, plan: Plan) -> web.StreamResponse:
    await sleep_ms(plan.non_stream_delay() * 1000)
    headers = {"x-request-id": plan.new_id("req_")}
    kind = plan.fault.kind if plan.fault is not None else None
    if kind == "http_200_error":
        err = SimRequestError("server_error", "The model produced an error mid-answer (simulated 200 error).")
        return web.json_response(error_body(err), status=200, headers=headers)
    body = {
        "id": plan.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": plan.prompt.model,
        "choices": [
            {
                "index": 0,
                "message": _message(plan),
                "logprobs": None,
                "finish_reason": _FINISH[plan.finish],
            }
        ],
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    usage = render(plan.shape, plan.figures)
    if usage is not None:
        body["usage"] = usage
    data = _dumps(body).encode()
    if kind in ("malformed", "stall", "drop"):
        return await _broken_body(request, data, kind, headers)
    return web.Response(body=data, content_type="application/json", headers=headers)


def _message(plan: Plan) -> dict[str, Any]:
    # the adapters' own encoder writes the turn (text, or content null and the tool calls)
    message = encode_message(Message.assistant(plan.text, tool_calls=plan.tool_calls))
    message |= {"refusal": None, "annotations": []}
    if plan.thinking:
        message["reasoning_content"] = plan.thinking
    if plan.behaviour.unknown_content:
        message[UNKNOWN_DELTA] = {"frames": 3}
    return message


async def _broken_body(request: web.Request, data: bytes, kind: str, headers: dict[str, str]) -> web.StreamResponse:
    """A body that does not parse (malformed), or half a body then silence (stall) or a cut connection (drop)."""
    half = data[: len(data) // 2]
    if kind == "malformed":
        return web.Response(body=half, content_type="application/json", headers=headers)
    response = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(half)
    if kind == "stall":
        await wait_forever()
    await drop_connection(request)
    return response


async def _stream(request: web.Request, plan: Plan, include_usage: bool) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "x-request-id": plan.new_id("req_"),
        }
    )
    await response.prepare(request)
    b = plan.behaviour
    usage = None if b.omit_stream_usage else render(plan.shape, plan.figures)
    with_usage_field = include_usage and usage is not None
    base = {
        "id": plan.new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": plan.prompt.model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if with_usage_field:
            obj["usage"] = None
        return b"data: " + _dumps(obj).encode() + b"\n\n"

    writer = FrameWriter(response, Pacer(b.tokens_per_s))
    writer.add(chunk({"role": "assistant", "content": "", "refusal": None}))
    await writer.flush()  # headers and the role chunk go out at once, as real servers do; it is no first token
    await writer.wait(b.ttft_ms)
    fault = plan.stream_fault
    deltas = plan.deltas
    for piece, tokens in plan.thinking_deltas:
        writer.add(chunk({"reasoning_content": piece}))
        await writer.tokens_sent(tokens)
    if b.unknown_content:
        writer.add(chunk({UNKNOWN_DELTA: {"frames": 3}}))
    for index, call in enumerate(plan.tool_calls):
        for tool_delta in tool_call_deltas(index, call, plan.argument_pieces(call)):
            writer.add(chunk(tool_delta))
        await writer.tokens_sent(count_text(call.name + call.arguments, plan.encoding))
    split = split_after(deltas, fault.after_tokens) if fault is not None else len(deltas)
    for piece, tokens in deltas[:split]:
        writer.add(chunk({"content": piece}))
        await writer.tokens_sent(tokens)
    if fault is not None:
        if fault.kind == "malformed":
            writer.add(
                b'data: {"id":"' + str(base["id"]).encode() + b'","object":"chat.completion.chunk","choices":[{\n\n'
            )
            # After the one bad event the stream carries on, so a tolerant client can still finish.
            for piece, tokens in deltas[split:]:
                writer.add(chunk({"content": piece}))
                await writer.tokens_sent(tokens)
        else:
            await writer.flush()
            if fault.kind == "stall":
                await wait_forever()
            if fault.kind == "drop":
                await drop_connection(request)
                return response
            if fault.kind == "http_200_error":
                err = SimRequestError("server_error", "The model produced an error mid-stream (simulated).")
                writer.add(b"data: " + _dumps(error_body(err)).encode() + b"\n\n")
                await writer.flush()
                await response.write_eof()
                return response
    writer.add(chunk({}, _FINISH[plan.finish]))
    if with_usage_field:
        writer.add(b"data: " + _dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
    writer.add(b"data: [DONE]\n\n")
    await writer.flush()
    await response.write_eof()
    return response
