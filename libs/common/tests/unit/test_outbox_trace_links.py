import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kota_common.outbox import _span_context
from kota_common.telemetry import current_trace_headers

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_stored_traceparent_gives_the_span_context_the_propagator_gives():
    expected = trace.get_current_span(propagate.extract({"traceparent": TRACEPARENT})).get_span_context()
    assert _span_context([["ce_id", "x"], ["traceparent", TRACEPARENT]]) == expected


def test_a_missing_or_malformed_traceparent_gives_no_link():
    assert _span_context([["ce_id", "x"]]) is None
    assert _span_context([["traceparent", "00-zz-b7ad6b7169203331-01"]]) is None
    assert _span_context([["traceparent", "00-" + "0" * 32 + "-b7ad6b7169203331-01"]]) is None
    assert _span_context([["traceparent", "garbage"]]) is None


@pytest.mark.parametrize("tracestate", ["", "vendor=abc,other=1"])
def test_stored_trace_headers_are_what_the_w3c_propagator_writes(tracestate):
    carrier = {"traceparent": TRACEPARENT, **({"tracestate": tracestate} if tracestate else {})}
    ctx = TraceContextTextMapPropagator().extract(carrier)
    expected: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(expected, context=ctx)
    token = context.attach(ctx)
    try:
        assert current_trace_headers() == expected == carrier
    finally:
        context.detach(token)


def test_no_trace_gives_no_trace_headers():
    assert current_trace_headers() == {}
