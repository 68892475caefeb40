"""Anthropic Messages on the simulator: request parsing, JSON and SSE responses, errors, faults.

Streams follow the real event order: message_start (input usage, output_tokens 1), content_block_start, ping,
one content_block_delta per token, content_block_stop, message_delta (stop_reason and the cumulative usage),
message_stop. Errors mid-stream are `event: error` frames.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workbench.providers.anthropic import decode_request, input_json_deltas, tool_use_block
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
from workbench.sim.usage import render, render_anthropic_start
from workbench.tokens import count_text

if TYPE_CHECKING:
    from workbench.sim.server import SimServer

__all__ = ["handle", "error_body"]

_STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool_calls": "tool_use"}
_SIGNATURE = "c2ltdWxhdGVkIHRoaW5raW5n"  # thinking blocks are signed; the simulator's signature is fixed
#: what the `unknown_content` dial sends: a content block type no API has (yet); a client must not drop it silently
UNKNOWN_BLOCK = "hologram"


def error_body(err: SimRequestError, error_type: str | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type or ERROR_KINDS[err.kind][3], "message": err.message}}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()


def parse(body: Any) -> Prompt:
    if not isinstance(body, dict):
        raise SimRequestError("invalid_request", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise SimRequestError("invalid_request", "model: Field required", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise SimRequestError("invalid_request", "messages: must be a non-empty list of messages", param="messages")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise SimRequestError("invalid_request", "max_tokens: Field required", param="max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise SimRequestError("invalid_request", "max_tokens: must be a positive integer", param="max_tokens")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise SimRequestError("invalid_request", "system: must be a string or a list of text blocks")
    counted: list[dict[str, Any]] = []
    if system:
        counted.append({"role": "system", "content": system})
    counted.extend(messages)
    users = [m for m in messages if m.get("role") == "user"]
    focus = message_text((users or messages)[-1].get("content"))
    stops = [s for s in (body.get("stop_sequences") or []) if isinstance(s, str)]
    tools = checked_tools(body)
    typed = None
    if tools or any(isinstance(m.get("content"), list) for m in messages):
        try:
            typed = decode_request(body)  # the adapter's own wire module reads it back
        except (ValueError, TypeError, AttributeError) as exc:
            raise SimRequestError("invalid_request", f"tools or content blocks: {exc}") from None
    if typed is not None and typed.messages and typed.messages[-1].role == "tool":
        focus = typed.messages[-1].content
    return Prompt(
        model=model, messages=counted, focus=focus, max_tokens=max_tokens, stop=stops, tools=tools, request=typed
    )


async def handle(server: SimServer, request: web.Request) -> web.StreamResponse:
    try:
        body = load_body(await request.read(), "There was an error parsing the body")
        plan = server.admit(parse(body), request.headers, "anthropic")
        if body.get("stream_options") is not None and plan.behaviour.reject_stream_options:
            raise SimRequestError("invalid_request", "stream_options: Extra inputs are not permitted")
        if plan.fault is not None and plan.fault.kind in HTTP_FAULT_STATUS:
            raise SimRequestError.from_fault(plan.fault, plan.prompt.model)
    except SimRequestError as err:
        return _error_response(err)

    async def reply() -> web.StreamResponse:
        if body.get("stream"):
            return await _stream(request, plan)
        return await _complete(request, plan)

    return await answer_admitted(plan, "anthropic", _error_response, reply)


def _error_response(err: SimRequestError) -> web.Response:
    return web.json_response(error_body(err), status=err.status, headers=err.headers)


def _message(plan: Plan, msg_id: str, content: list[dict[str, Any]], stop: str | None, usage: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": plan.prompt.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": plan.stop_sequence if stop == "stop_sequence" else None,
    }
    if usage is not None:
        message["usage"] = usage
    return message


async def _complete(request: web.Request, plan: Plan) -> web.StreamResponse:
    await sleep_ms(plan.non_stream_delay() * 1000)
    headers = {"request-id": plan.new_id("req_")}
    kind = plan.fault.kind if plan.fault is not None else None
    if kind == "http_200_error":
        err = SimRequestError("overloaded", "Overloaded (simulated error inside a 200 response)")
        return web.json_response(error_body(err), status=200, headers=headers)
    content: list[dict[str, Any]] = [{"type": "text", "text": plan.text}] if plan.text or not plan.tool_calls else []
    content += [tool_use_block(c, streamed=False) for c in plan.tool_calls]
    if plan.thinking:
        content.insert(0, {"type": "thinking", "thinking": plan.thinking, "signature": _SIGNATURE})
    if plan.behaviour.unknown_content:
        content.append({"type": UNKNOWN_BLOCK, "frames": 3})
    body = _message(plan, plan.new_id("msg_"), content, _STOP_REASON[plan.finish], render(plan.shape, plan.figures))
    data = _dumps(body).encode()
    if kind == "malformed":
        return web.Response(body=data[: len(data) // 2], content_type="application/json", headers=headers)
    if kind in ("stall", "drop"):
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        if kind == "stall":
            await wait_forever()
        await drop_connection(request)
        return response
    return web.Response(body=data, content_type="application/json", headers=headers)


async def _stream(request: web.Request, plan: Plan) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "request-id": plan.new_id("req_"),
        }
    )
    await response.prepare(request)
    b = plan.behaviour
    omit = b.omit_stream_usage
    writer = FrameWriter(response, Pacer(b.tokens_per_s))
    start_usage = None if omit else render_anthropic_start(plan.shape, plan.figures)
    writer.add(
        _event(
            "message_start",
            {"type": "message_start", "message": _message(plan, plan.new_id("msg_"), [], None, start_usage)},
        )
    )
    has_text = bool(plan.text) or not plan.tool_calls  # a turn of tool calls only has no text block
    at = 1 if plan.thinking else 0  # the text block's index: after the thinking block when there is one
    text_start = _event(
        "content_block_start",
        {"type": "content_block_start", "index": at, "content_block": {"type": "text", "text": ""}},
    )
    if plan.thinking:
        block: dict[str, Any] = {"type": "thinking", "thinking": ""}
        writer.add(_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}))
    elif has_text:
        writer.add(text_start)
    writer.add(_event("ping", {"type": "ping"}))
    await writer.flush()  # the opening events are no first token: they go out before the model "thinks"
    await writer.wait(b.ttft_ms)
    if plan.thinking:
        for piece, tokens in plan.thinking_deltas:
            thought = {"type": "thinking_delta", "thinking": piece}
            writer.add(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": thought}))
            await writer.tokens_sent(tokens)
        signed = {"type": "signature_delta", "signature": _SIGNATURE}
        writer.add(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": signed}))
        writer.add(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        if has_text:
            writer.add(text_start)

    def delta(piece: str) -> bytes:
        return _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": at, "delta": {"type": "text_delta", "text": piece}},
        )

    fault = plan.stream_fault
    deltas = plan.deltas
    split = split_after(deltas, fault.after_tokens) if fault is not None else len(deltas)
    for piece, tokens in deltas[:split]:
        writer.add(delta(piece))
        await writer.tokens_sent(tokens)
    if fault is not None:
        if fault.kind == "malformed":
            writer.add(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type\n\n')
            for piece, tokens in deltas[split:]:  # one bad event, then the stream carries on
                writer.add(delta(piece))
                await writer.tokens_sent(tokens)
        else:
            await writer.flush()
            if fault.kind == "stall":
                await wait_forever()
            if fault.kind == "drop":
                await drop_connection(request)
                return response
            if fault.kind == "http_200_error":
                err = SimRequestError("overloaded", "Overloaded (simulated mid-stream error)")
                writer.add(_event("error", error_body(err)))
                await writer.flush()
                await response.write_eof()
                return response
    index = at
    if has_text:
        writer.add(_event("content_block_stop", {"type": "content_block_stop", "index": at}))
        index = at + 1
    for call in plan.tool_calls:
        block = tool_use_block(call, streamed=True)
        writer.add(
            _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        )
        for json_delta in input_json_deltas(index, plan.argument_pieces(call)):
            writer.add(_event("content_block_delta", json_delta))
        writer.add(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        await writer.tokens_sent(count_text(call.name + call.arguments, plan.encoding))
        index += 1
    if b.unknown_content:
        block = {"type": UNKNOWN_BLOCK, "frames": 3}
        writer.add(
            _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        )
        odd = {"type": f"{UNKNOWN_BLOCK}_delta", "frames": 1}
        writer.add(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": odd}))
        writer.add(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = _STOP_REASON[plan.finish]
    message_delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": plan.stop_sequence if stop == "stop_sequence" else None},
    }
    usage = None if omit else render(plan.shape, plan.figures)
    if usage is not None:
        if plan.shape == "anthropic":
            usage = {k: v for k, v in usage.items() if k != "cache_creation"}  # as the real message_delta
        message_delta["usage"] = usage
    writer.add(_event("message_delta", message_delta))
    writer.add(_event("message_stop", {"type": "message_stop"}))
    await writer.flush()
    await response.write_eof()
    return response
