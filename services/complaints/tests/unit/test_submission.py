"""The submission command: what an idempotency key is bound to."""

from dataclasses import replace

from kota_complaints.service_layer.services import Contact, SubmitComplaint


def submission(**kw) -> SubmitComplaint:
    return SubmitComplaint(**{"channel": "web", "service_code": "flooding", "description": "Banjir", "lat": -6.2,
                              "lon": 106.8, "attributes": {"depth": "30", "area": "jalan"},
                              "contact": Contact(email="a@b.id"), "idempotency_key": "k-1", **kw})


def test_an_idempotency_key_is_bound_to_what_was_submitted_with_it():
    base = submission()
    assert submission(attributes={"area": "jalan", "depth": "30"}).stored_idempotency_key() == base.stored_idempotency_key()
    for other in (replace(base, description="Sampah"), replace(base, contact=Contact(email="c@d.id")),
                  replace(base, idempotency_key="k-2")):
        assert other.stored_idempotency_key() != base.stored_idempotency_key()
    assert replace(base, idempotency_key="").stored_idempotency_key() is None
    assert len(base.stored_idempotency_key()) <= 128 and "k-1" not in base.stored_idempotency_key()


def test_a_key_reused_with_other_content_is_recognised_by_its_key_part():
    base = submission().stored_idempotency_key()
    other = submission(description="Sampah").stored_idempotency_key()
    another_key = submission(idempotency_key="k-2").stored_idempotency_key()
    assert base.rpartition(":")[0] == other.rpartition(":")[0] != another_key.rpartition(":")[0]


def test_a_tracking_code_is_the_first_twelve_base32_letters_of_the_ids_hmac():
    """Codes already given to citizens must keep working: the same letters as base64's b32encode made."""
    import base64
    import hashlib
    import hmac

    from kota_complaints.service_layer.services import Context, new_complaint_id

    ctx = Context(routing=None, areas=None, policy=None, secret="s3cret-of-the-city")
    for complaint_id in ["A", "0" * 16, *(new_complaint_id() for _ in range(500))]:
        digest = hmac.new(ctx.secret.encode(), f"track:{complaint_id}".encode(), hashlib.sha256).digest()
        assert ctx.tracking_code(complaint_id) == base64.b32encode(digest).decode()[:12]
    assert ctx.tracking_code("A") != Context(routing=None, areas=None, policy=None, secret="other").tracking_code("A")
