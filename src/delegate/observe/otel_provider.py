"""An OpenTelemetry SDK tracer provider for scripts and the CLI (the ``otel`` extra).

:func:`make_tracer_provider` builds a provider that exports to the console or over OTLP; pass
it to :class:`~delegate.observe.otel.OTelTracing`. OpenTelemetry is imported only when it is
called.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["OTEL_EXTRA", "make_tracer_provider"]

OTEL_EXTRA = "pip install 'delegate[otel]'"
"""What to install for tracing."""


def make_tracer_provider(exporter: str = "console", *,
                         stream: TextIO | None = None) -> TracerProvider:
    """An SDK ``TracerProvider`` for scripts and the CLI; call its ``shutdown()`` at the end.

    Args:
        exporter: ``console`` (each span as JSON on ``stream``, stderr by default) or ``otlp``
            (configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables; needs
            ``opentelemetry-exporter-otlp-proto-http``, or ``-grpc`` when
            ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``).
        stream: where the console exporter writes.

    ``service.name`` is ``delegate`` unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` set one; ``OTEL_TRACES_SAMPLER`` is honoured by the SDK.

    Raises:
        ConfigurationError: the SDK or the OTLP exporter is missing, or ``exporter`` is unknown.
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace import export as sdk_export
    except ImportError as exc:
        raise ConfigurationError(
            f"OpenTelemetry tracing needs the otel extra: {OTEL_EXTRA}") from exc
    if exporter == "console":
        processor: Any = sdk_export.SimpleSpanProcessor(
            sdk_export.ConsoleSpanExporter(out=stream or sys.stderr))
    elif exporter == "otlp":
        env = os.environ
        protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                    or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
        kind = "grpc" if protocol == "grpc" else "http"
        try:
            module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{kind}"
                                             ".trace_exporter")
        except ImportError:
            raise ConfigurationError(
                f"OTLP export over {protocol} needs its exporter: "
                f"pip install opentelemetry-exporter-otlp-proto-{kind}") from None
        processor = sdk_export.BatchSpanProcessor(module.OTLPSpanExporter())
    else:
        raise ConfigurationError(f"unknown trace exporter {exporter!r}: use console or otlp")
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "delegate"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider
