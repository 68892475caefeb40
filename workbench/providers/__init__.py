"""Provider adapters: one per wire format over a shared httpx client, turning a chat request into a stream of
chunks (`TextDelta`*, `UsageReport`?, `StreamEnd`) and every failure into a classified `ProviderError`.

Modules: `base` (the contract), `openai_compat` and `anthropic` (the adapters), `registry` (profile entry ->
client and adapter), `errors` (classification), `retry_after` (wait hints), `sse` (the event-stream parser).
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
    UsageReport,
)
from workbench.providers.openai_compat import OpenAICompatAdapter
from workbench.providers.registry import make_adapter, make_client, sim_base_url

__all__ = [
    "Adapter",
    "AnthropicAdapter",
    "ChatRequest",
    "Chunk",
    "ErrorKind",
    "OpenAICompatAdapter",
    "ProviderError",
    "RETRYABLE_KINDS",
    "StreamEnd",
    "TextDelta",
    "UsageReport",
    "make_adapter",
    "make_client",
    "sim_base_url",
]
