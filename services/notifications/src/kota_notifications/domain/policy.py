"""Which complaint events a citizen hears about, and as what kind of message.

The citizen hears of what changes for them: the acknowledgement, the agency it went to, work starting, the answer
(resolved or rejected), a note staff wrote to them, an escalation after a missed deadline, a merge with an earlier
report. Not of what is internal or their own doing (a rating, a citizen's note, closing, the "routed" status that
repeats the routed event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBMITTED = "kota.complaints.submitted.v1"
ROUTED = "kota.complaints.routed.v1"
STATUS_CHANGED = "kota.complaints.status-changed.v1"
NOTE_ADDED = "kota.complaints.note-added.v1"
SLA_BREACHED = "kota.complaints.sla-breached.v1"
DUPLICATE_LINKED = "kota.complaints.duplicate-linked.v1"

TOLD = (SUBMITTED, ROUTED, STATUS_CHANGED, NOTE_ADDED, SLA_BREACHED, DUPLICATE_LINKED)
STATUS_KINDS = {"in_progress": "in_progress", "resolved": "resolved", "rejected": "rejected"}
STAFF_ACTORS = ("staff:", "admin")


@dataclass(frozen=True)
class ComplaintUpdate:
    """One complaint event as kept here (its ce_id, type and payload) until a recipient is known."""

    event_id: str
    complaint_id: str
    ce_type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    kind: str
    facts: dict[str, Any]


def notice_for(update: ComplaintUpdate, *, acknowledged: bool, first_routing: bool) -> Notice | None:
    """The message an update makes for a recipient, or None. `acknowledged`: the channel's intake already answered
    with the number, the tracking code and the agency (so the submission and its first routing are not told
    twice); `first_routing`: no earlier routed event of this complaint is known."""
    d = update.data
    facts = {"complaint_id": update.complaint_id}
    if update.ce_type == SUBMITTED:
        return None if acknowledged else Notice("acknowledged", facts)
    if update.ce_type == ROUTED:
        if acknowledged and first_routing:
            return None
        return Notice("routed", facts | {"agency": d.get("agency_code", ""), "unit": d.get("unit", ""),
                                         "due_at": d.get("due_at")})
    if update.ce_type == STATUS_CHANGED:
        kind = STATUS_KINDS.get(d.get("to_status", ""))
        if kind is None:
            return None
        return Notice(kind, facts | {"agency": d.get("agency_code", ""), "note": d.get("note", "")})
    if update.ce_type == NOTE_ADDED:
        if not str(d.get("actor", "")).startswith(STAFF_ACTORS) or not d.get("note"):
            return None
        return Notice("note", facts | {"note": d["note"]})
    if update.ce_type == SLA_BREACHED:
        return Notice("sla_breached", facts | {"agency": d.get("agency_code", ""), "escalated_to": d.get("escalated_to", "")})
    if update.ce_type == DUPLICATE_LINKED:
        return Notice("duplicate", facts | {"duplicate_of": d.get("duplicate_of", "")})
    return None
