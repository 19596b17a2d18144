"""What a service records: nothing of its own when it exports nothing, every trace a caller sampled."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from kota_common.telemetry import sampler_for


def started_under(sampler, parent_sampled: bool | None):
    tracer = TracerProvider(sampler=sampler).get_tracer("test")
    context = None
    if parent_sampled is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
        parent = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True, trace_flags=flags)
        context = trace.set_span_in_context(NonRecordingSpan(parent))
    return tracer.start_span("SubmitComplaint", context=context)


def test_exporting_nothing_a_service_records_only_traces_its_callers_sampled():
    sampler = sampler_for({})
    own = started_under(sampler, None)
    assert not own.is_recording()
    assert own.get_span_context().is_valid  # its trace id still reaches events and log lines
    assert started_under(sampler, True).is_recording()
    continued = started_under(sampler, True).get_span_context()
    assert continued.trace_id == 0x0AF7651916CD43DD8448EB211C80319C and continued.trace_flags.sampled
    assert not started_under(sampler, False).is_recording()


def test_with_an_exporter_or_a_chosen_sampler_the_sdk_decides():
    for environ in ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, {"KOTA_OTEL_CONSOLE": "1"},
                    {"OTEL_TRACES_SAMPLER": "always_on"}):
        assert sampler_for(environ) is None
    assert started_under(sampler_for({"KOTA_OTEL_CONSOLE": "1"}), None).is_recording()  # SDK default: always on
