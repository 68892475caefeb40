"""Provider adapters: one per wire format over a shared httpx client, turning a chat request into a stream of
chunks (`TextDelta`, `ThinkingDelta`, `ToolCallDelta`, `UnsupportedContent`, `UsageReport`, then `StreamEnd`)
and every failure into a classified `ProviderError`.

Modules: `base` (the contract), `content` (typed messages, tools, tool calls), `openai_compat` and `anthropic`
(the adapters, and each wire format's request encoder/decoder), `plugin` (provider kinds as
plugins: the `workbench.providers` entry points), `registry` (profile entry -> client and adapter), `errors`
(classification), `retry_after` (wait hints), `sse` (the event-stream parser).

The names below are imported on first use (PEP 562): importing `workbench.providers.base` or `.plugin` must not
import every wire format (the engine imports none, tests/test_import_hygiene.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.providers.anthropic import AnthropicAdapter
    from workbench.providers.base import (
        RETRYABLE_KINDS,
        Adapter,
        ChatRequest,
        Chunk,
        ErrorKind,
        ProviderError,
        StreamEnd,
        TextDelta,
        ThinkingDelta,
        ToolCallDelta,
        UnsupportedContent,
        UsageReport,
    )
    from workbench.providers.content import Message, ToolCall, ToolChoice, ToolSpec
    from workbench.providers.openai_compat import OpenAICompatAdapter
    from workbench.providers.registry import make_adapter, make_client, sim_base_url

_WHERE = {
    "AnthropicAdapter": "anthropic",
    "OpenAICompatAdapter": "openai_compat",
    "make_adapter": "registry",
    "make_client": "registry",
    "sim_base_url": "registry",
    **dict.fromkeys(
        (
            "RETRYABLE_KINDS",
            "Adapter",
            "ChatRequest",
            "Chunk",
            "ErrorKind",
            "ProviderError",
            "StreamEnd",
            "TextDelta",
            "ThinkingDelta",
            "ToolCallDelta",
            "UnsupportedContent",
            "UsageReport",
        ),
        "base",
    ),
    **dict.fromkeys(("Message", "ToolCall", "ToolChoice", "ToolSpec"), "content"),
}

__all__ = [
    "Adapter",
    "AnthropicAdapter",
    "ChatRequest",
    "Chunk",
    "ErrorKind",
    "Message",
    "OpenAICompatAdapter",
    "ProviderError",
    "RETRYABLE_KINDS",
    "StreamEnd",
    "TextDelta",
    "ThinkingDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolSpec",
    "UnsupportedContent",
    "UsageReport",
    "make_adapter",
    "make_client",
    "sim_base_url",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
