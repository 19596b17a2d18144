"""Complaint statuses and channels as the gateway's APIs name them, and who may read which agency's inbox."""

from __future__ import annotations

from kota.complaints.v1 import complaints_pb2 as pb

OPEN = frozenset({pb.STATUS_RECEIVED, pb.STATUS_ROUTED, pb.STATUS_IN_PROGRESS})
CLOSED = (pb.STATUS_RESOLVED, pb.STATUS_REJECTED, pb.STATUS_CLOSED)
STATUS_NAMES = {v: k.removeprefix("STATUS_").lower() for k, v in pb.Status.items() if v}
STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}
CHANNEL_NAMES = {v: k.removeprefix("CHANNEL_").lower() for k, v in pb.Channel.items() if v}


class NotAllowed(Exception):
    """The caller's role does not allow what it asked for."""


def inbox_agency(own_agency: str, roles: frozenset[str] | set[str], asked: str) -> str:
    """The agency whose inbox a staff member reads: their own, or, for an admin, the one asked for."""
    if asked and asked != own_agency:
        if "admin" not in roles:
            raise NotAllowed(f"staff of {own_agency} cannot read the inbox of {asked}")
        return asked
    return own_agency
