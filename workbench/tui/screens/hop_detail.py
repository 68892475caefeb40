"""A hop's detail (modal): what the engine reported about it, in full — timings, usage buckets, the price entry,
the error, the decision data. Secrets never reach events; should one slip through all the same, a credential field
(`authorization`, `api_key`, ...) and the value of every key variable the profile names are shown as `***`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.engine.events import HopFinished
from workbench.tui.runner import HopRow

# Fields that hold credentials wherever they appear, compared whole (case, `-` and `_` aside): a name that merely
# contains "token" or "key" (`first_token_ts`, `output_tokens`, `cache_key`) is data, not a secret.
SECRET_FIELDS = frozenset(
    {
        "apikey",
        "authorization",
        "proxyauthorization",
        "xapikey",
        "xgoogapikey",
        "password",
        "secret",
        "clientsecret",
        "accesstoken",
        "refreshtoken",
        "bearer",
        "cookie",
        "setcookie",
    }
)


def secret_field(name: str) -> bool:
    return name.lower().replace("-", "").replace("_", "") in SECRET_FIELDS


def secret_values(profile: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the environment variables the profile takes keys from (`api_key_env`, `${NAME}` in
    headers): wherever one of them shows up, in any field, it is masked. Longest first, so that a key containing
    another is masked whole."""
    env = os.environ if environ is None else environ
    names = {name for provider in profile.providers.values() for name in provider.env_refs()}
    values = {env[name] for name in names if len(env.get(name, "")) >= 4}  # shorter would mask ordinary words
    return sorted(values, key=len, reverse=True)


def redact(value: Any, secrets: Sequence[str] = ()) -> Any:
    """`value` with known secret fields as `***` and every known secret value masked inside any text."""
    if isinstance(value, dict):
        return {k: "***" if secret_field(str(k)) and v else redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, "***")
    return value


def describe(row: HopRow, secrets: Sequence[str] = ()) -> str:
    """The hop's events as readable JSON, tokens excluded (they are the answer)."""
    parts = []
    for event in row.events:
        if isinstance(event, HopFinished) and event.engine_ms is not None:
            ttft = "" if event.ttft_ms is None else f" · first token {event.ttft_ms:,.0f} ms"
            parts.append(
                f"{event.latency_ms:,.0f} ms{ttft} · engine's own {event.engine_ms:.2f} ms"
                " (the rest: the provider, the network and this screen)"
            )
    for event in row.events:
        data = event.to_dict()
        data.pop("output", None) if data.get("type") == "hop_finished" and len(str(data.get("output"))) > 400 else None
        parts.append(json.dumps(redact(data, secrets), indent=2, default=str, ensure_ascii=False))
    return "\n".join(parts) or "(no events recorded for this row)"


_NO_PROFILE = SimpleNamespace(providers={})


class HopDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HopDetailScreen { align: center middle; }
    HopDetailScreen > VerticalScroll { width: 90%; height: 85%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, row: HopRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"{self.row.kind} · {self.row.label.strip()} · {self.row.status}"
            scroll.border_subtitle = "esc close"
            secrets = secret_values(getattr(self.app, "profile", None) or _NO_PROFILE)
            yield Static(describe(self.row, secrets), markup=False, id="hop-detail")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
