"""Runs as OpenTelemetry traces over OTLP/HTTP (GenAI semantic conventions), live or from the store.

    exporter = OtlpExporter("http://127.0.0.1:4318", profile=loaded.profile)
    exporter.submit(event)      # live: each run is sent when it finishes
    exporter.export_rows(detail) # after the fact: a stored run (RunDetail / RunRecord rows)
    exporter.close()            # flushes

See `workbench.otel.spans` for the span tree and its attributes.
"""

from workbench.otel.spans import OtlpExporter, traces_url

__all__ = ["OtlpExporter", "traces_url"]
