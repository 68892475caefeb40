"""Export one route of a profile to something a product deploys: a native profile, LiteLLM or Portkey config.

    result = export_route(loaded, "default", "litellm", provenance=Provenance(eval_id=...))
    result.text       # the file's content
    result.warnings   # what the format cannot express, in words (also written into the file where it can be)

Exports name environment variables, never keys: a key in the environment never reaches the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.export.common import ExportError, ExportResult, Provenance

if TYPE_CHECKING:
    from workbench.profiles.load import LoadedProfile

FORMATS: tuple[str, ...] = ("native", "litellm", "portkey")

__all__ = ["FORMATS", "ExportError", "ExportResult", "Provenance", "export_route"]


def export_route(
    loaded: LoadedProfile, route: str | None, fmt: str, provenance: Provenance | None = None
) -> ExportResult:
    """Export `route` of a loaded profile in format `fmt` (one of FORMATS)."""
    if provenance is None:
        provenance = Provenance(source=loaded.label, sha256=loaded.sha256)
    if fmt == "native":
        from workbench.export.native import export_native

        return export_native(loaded.profile, route, provenance)
    if fmt == "litellm":
        from workbench.export.litellm import export_litellm

        return export_litellm(loaded.profile, route, provenance)
    if fmt == "portkey":
        from workbench.export.portkey import export_portkey

        return export_portkey(loaded.profile, route, provenance)
    raise ExportError(f"unknown export format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
