"""What `workbench profile explain FILE --route R` shows: for every step of a route (branches and sub-steps
included) and every target of it, the policy in force and where each value came from.

Values come from `workbench.profiles.resolve.resolve`; each origin is a dotted profile path
(`routes.default.steps.0.retry.max_attempts`) mapped to the line and column of that key in the file, or
`default` when no level of the profile set it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workbench.errors import WorkbenchError
from workbench.profiles.load import LoadedProfile
from workbench.profiles.problems import locate, resolve_dotted
from workbench.profiles.resolve import resolve
from workbench.profiles.yaml_doc import make_yaml, parse


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _gate_policy(step: Any, at: str, where: Any) -> dict[str, dict[str, Any]]:
    """What a gate does when its checks fail: `on_fail`, and the fallback path of `on_fail: degrade`."""
    fields: list[tuple[str, Any, bool]] = [("on_fail", step.on_fail, "on_fail" in step.model_fields_set)]
    if step.on_fail == "retry":
        fields.append(("max_retries", step.max_retries, "max_retries" in step.model_fields_set))
    if step.on_fail == "degrade":
        degrade = step.degrade
        written = degrade.model_fields_set if degrade is not None else set()
        # no branch: the run goes on with the next step; no note: the failed checks are the reason
        fields.append(("degrade.branch", degrade.branch if degrade else None, "branch" in written))
        fields.append(("degrade.note", degrade.note if degrade else None, "note" in written))
    out: dict[str, dict[str, Any]] = {}
    for key, value, written in fields:
        origin = f"{at}.{key}" if written else "default"
        out[key] = {"value": value, "origin": origin, "at": where(origin)}
    return out


def explain_route(loaded: LoadedProfile, route_name: str | None) -> dict[str, Any]:
    """Every (step, target) of the route with each policy field's value, origin and file:line:col."""
    profile = loaded.profile
    try:
        rname, route = profile.route(route_name)
    except KeyError:
        raise WorkbenchError(
            f"unknown route {route_name!r} in {loaded.label} (routes: {', '.join(profile.routes)})"
        ) from None
    doc = parse(make_yaml(loaded.text), loaded.text, loaded.label)

    def where(origin: str) -> str | None:
        if origin.startswith("default"):
            return None
        loc = resolve_dotted(doc, origin)
        if loc is None:
            return None
        (line, col), _, _ = locate(doc, loc, at_key=True)
        return f"{loaded.label}:{line}:{col}"

    entries: list[dict[str, Any]] = []
    for path, step in route.all_steps():
        step_path = "steps." + ".".join(str(p) for p in path)
        targets = list(getattr(step, "targets", None) or [])
        for index in range(len(targets)) if targets else [None]:
            resolved = resolve(profile, rname, path, index)
            values = resolved.as_dict()
            policy: dict[str, dict[str, Any]] = {}
            for key, origin in resolved.origins.items():
                block, _, field = key.partition(".")
                value = values[block][field] if field else values[block]
                policy[key] = {
                    "value": _json_value(value),
                    "origin": "default" if origin == "default" else origin,
                    "at": where(origin),
                }
            if step.kind == "gate":
                policy.update(_gate_policy(step, f"routes.{rname}.{step_path}", where))
            entries.append(
                {
                    "step": step_path,
                    "name": step.name,
                    "kind": step.kind,
                    "target": None if index is None else {"index": index, "model": targets[index].model},
                    "policy": policy,
                }
            )
    return {"profile": loaded.label, "route": rname, "entries": entries}
