from opentelemetry import propagate, trace

from kota_common.outbox import _span_context

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_stored_traceparent_gives_the_span_context_the_propagator_gives():
    expected = trace.get_current_span(propagate.extract({"traceparent": TRACEPARENT})).get_span_context()
    assert _span_context([["ce_id", "x"], ["traceparent", TRACEPARENT]]) == expected


def test_a_missing_or_malformed_traceparent_gives_no_link():
    assert _span_context([["ce_id", "x"]]) is None
    assert _span_context([["traceparent", "00-zz-b7ad6b7169203331-01"]]) is None
    assert _span_context([["traceparent", "00-" + "0" * 32 + "-b7ad6b7169203331-01"]]) is None
    assert _span_context([["traceparent", "garbage"]]) is None
