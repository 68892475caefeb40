"""Native export: a self-contained v2 profile holding one route and only the providers and models it uses.

The route is written as it was loaded (fields the author set, nothing filled in), so it resolves to the same
policies and makes the same decisions; the simulator settings travel with it so a sim route answers the same.
Providers keep their environment variable *names*; no value is ever read. Headed by a provenance comment.
"""

from __future__ import annotations

import io
from typing import Any

from workbench.export.common import ExportResult, Provenance, as_comment, pick_route, route_models, route_providers
from workbench.profiles.models import Profile


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_unset=True, by_alias=True)


def export_native(profile: Profile, route: str | None, provenance: Provenance) -> ExportResult:
    name, chosen = pick_route(profile, route)
    models = route_models(chosen)
    providers = route_providers(profile, models)
    doc: dict[str, Any] = {
        "version": 2,
        "name": f"{profile.name}-{name}",
        "description": chosen.description or profile.description or f"route {name} exported from {profile.name}",
        "default_route": name,
        "sim": _dump(profile.sim) or {"seed": profile.sim.seed},
        "providers": {p: _dump(profile.providers[p]) for p in providers},
        "models": {m: _dump(profile.models[m]) for m in models},
        "routes": {name: _dump(chosen)},
    }
    policies = _dump(profile.policies)
    if policies:
        doc["policies"] = policies
    if "seed" not in doc["sim"]:
        doc["sim"]["seed"] = profile.sim.seed  # same seed, same simulated answers
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    buf = io.StringIO()
    yaml.dump(doc, buf)
    header = as_comment([*provenance.lines(name), "keys are read from the environment variables named below"])
    return ExportResult(text=header + buf.getvalue(), warnings=[], format="native", route=name)
