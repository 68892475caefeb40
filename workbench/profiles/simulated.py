"""The simulator's view of a profile: one function, used by the engine's embedded simulator and `sim serve`.

For every model of a `sim` provider, its dials (`sim:`) keyed by its wire model id, with the tokenizer the
model entry names (or the one guessed from the id) and the profile's context window, so a simulated model
rejects a prompt over its window as the real one would (a dial of its own `context_window` wins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.profiles.models import Profile
    from workbench.sim.behaviour import SimBehaviour


def sim_behaviours(profile: Profile) -> dict[str, SimBehaviour]:
    """Wire model id -> simulator dials, for every model of a `sim` provider."""
    from workbench.sim.behaviour import SimBehaviour
    from workbench.tokens import encoding_for_model

    served: dict[str, SimBehaviour] = {}
    for model in profile.models.values():
        if profile.providers[model.provider].kind != "sim":
            continue
        dials = model.sim or SimBehaviour()
        served[model.model] = dials.model_copy(
            update={
                "tokenizer": model.tokenizer or encoding_for_model(model.model),
                "context_window": dials.context_window or model.context_window,
            }
        )
    return served
