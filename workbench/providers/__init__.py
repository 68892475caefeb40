"""Provider adapters: one per wire format over a shared httpx client, turning a chat request into a stream of
chunks (`TextDelta`, `ThinkingDelta`, `ToolCallDelta`, `UnsupportedContent`, `UsageReport`, then `StreamEnd`)
and every failure into a classified `ProviderError`.

Modules: `base` (the contract), `content` (typed messages, tools, tool calls), `openai_compat` and `anthropic`
(the adapters, and each wire format's request encoder/decoder), `registry` (profile entry -> client and
adapter), `errors` (classification), `retry_after` (wait hints), `sse` (the event-stream parser).
"""

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
