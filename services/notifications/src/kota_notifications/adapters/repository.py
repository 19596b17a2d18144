"""Recipients, complaint updates, messages, the channels' intake and the opt-out list in the service's database.

A message or an intake is handed to one sender at a time by a conditional UPDATE (`claim_*`: pending and due ->
sending with a lease), so that two dispatchers (two replicas, or a restarted one) never send the same message
together; what a claimed object becomes is written back by `flush_changes` from the objects seen."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from kota_common.db.driver import insert_many
from kota_common.db.tables import table_of
from kota_notifications.adapters.orm import (
    ChannelMessageRow,
    ConversationRow,
    IntakeRow,
    MessageRow,
    OptOutRow,
    RecipientRow,
    UpdateRow,
)
from kota_notifications.domain.conversation import Conversation
from kota_notifications.domain.intake import Intake, IntakeStatus
from kota_notifications.domain.model import Attempt, Channel, DeliveryStatus, Message, Outcome, Recipient
from kota_notifications.domain.policy import ComplaintUpdate


@dataclass(frozen=True)
class MessageFilter:
    complaint_id: str = ""
    status: DeliveryStatus | None = None
    channel: Channel | None = None


class NotificationRepository:
    def __init__(self, session: Session):
        self.session = session
        self.messages: dict[str, Message] = {}  # seen (loaded or added): written back by flush_changes
        self.intake: dict[str, Intake] = {}
        self._new_messages: set[str] = set()
        self._loaded: dict[str, dict[str, Any]] = {}  # a loaded message's row values: unchanged, not written back

    # -- recipients --------------------------------------------------------------------------------------------
    def recipients_of(self, complaint_id: str) -> list[Recipient]:
        rows = self.session.execute(select(RecipientRow).where(col(RecipientRow.complaint_id) == complaint_id)
                                    .order_by(col(RecipientRow.created_at))).scalars().all()
        return [_recipient(r) for r in rows]

    def find_recipient(self, complaint_id: str, channel: Channel, address: str) -> Recipient | None:
        row = self.session.execute(select(RecipientRow).where(
            col(RecipientRow.complaint_id) == complaint_id, col(RecipientRow.channel) == channel.value,
            col(RecipientRow.address) == address)).scalar_one_or_none()
        return None if row is None else _recipient(row)

    def registrations_of(self, channel: Channel, address: str, since: datetime) -> list[datetime]:
        """When the address was registered to a complaint (RegisterRecipient, not as a channel's own sender, which
        is acknowledged) since `since`."""
        return list(self.session.execute(select(col(RecipientRow.created_at)).where(
            col(RecipientRow.channel) == channel.value, col(RecipientRow.address) == address,
            col(RecipientRow.complaint_id) != "", col(RecipientRow.acknowledged).is_(False),
            col(RecipientRow.created_at) >= since)).scalars())

    def get_recipient(self, recipient_id: str) -> Recipient | None:
        row = self.session.get(RecipientRow, recipient_id)
        return None if row is None else _recipient(row)

    def add_recipient(self, r: Recipient) -> None:
        self.session.add(RecipientRow(id=r.id, complaint_id=r.complaint_id, channel=r.channel.value, address=r.address,
                                      language=r.language, acknowledged=r.acknowledged,
                                      created_at=r.created_at or datetime.now(timezone.utc)))
        self.session.flush()

    # -- complaint updates ---------------------------------------------------------------------------------------
    def add_update(self, u: ComplaintUpdate, at: datetime) -> None:
        self.session.add(UpdateRow(event_id=u.event_id, complaint_id=u.complaint_id, ce_type=u.ce_type,
                                   data=json.dumps(u.data, default=str), received_at=at))
        self.session.flush()

    def updates_of(self, complaint_id: str) -> list[ComplaintUpdate]:
        rows = self.session.execute(select(UpdateRow).where(col(UpdateRow.complaint_id) == complaint_id)
                                    .order_by(col(UpdateRow.received_at), col(UpdateRow.event_id))).scalars().all()
        return [ComplaintUpdate(r.event_id, r.complaint_id, r.ce_type, json.loads(r.data)) for r in rows]

    def forget_updates(self, received_before: datetime) -> int:
        done = self.session.execute(delete(UpdateRow).where(col(UpdateRow.received_at) < received_before))
        return done.rowcount  # type: ignore[attr-defined]

    def has_message(self, event_id: str, recipient_id: str) -> bool:
        if any(m.event_id == event_id and m.recipient_id == recipient_id for m in self.messages.values()):
            return True
        return self.session.execute(select(col(MessageRow.id)).where(
            col(MessageRow.event_id) == event_id, col(MessageRow.recipient_id) == recipient_id)).first() is not None

    # -- a batch of complaint events, set-wise (one statement a kind, not one a row) ------------------------------
    def add_updates(self, updates: list[tuple[ComplaintUpdate, datetime]]) -> None:
        """The updates (each with when it was received) inserted now, in one executemany."""
        if updates:
            insert_many(self.session.connection(), table_of(UpdateRow), [
                {"event_id": u.event_id, "complaint_id": u.complaint_id, "ce_type": u.ce_type,
                 "data": json.dumps(u.data, default=str), "received_at": at} for u, at in updates])

    def recipients_of_complaints(self, complaint_ids: Collection[str]) -> dict[str, list[Recipient]]:
        """Each complaint's recipients (oldest first), for many complaints in one query."""
        out: dict[str, list[Recipient]] = {}
        if not complaint_ids:
            return out
        t = table_of(RecipientRow)
        rows = self.session.execute(select(t.c.id, t.c.complaint_id, t.c.channel, t.c.address, t.c.language,
                                           t.c.acknowledged, t.c.created_at)
                                    .where(t.c.complaint_id.in_(list(complaint_ids)))
                                    .order_by(t.c.created_at)).all()
        for r in rows:
            out.setdefault(r.complaint_id, []).append(Recipient(
                id=r.id, complaint_id=r.complaint_id, channel=Channel(r.channel), address=r.address,
                language=r.language, acknowledged=r.acknowledged, created_at=r.created_at))
        return out

    def update_ids_of(self, complaint_ids: Collection[str], ce_type: str) -> dict[str, list[str]]:
        """The event ids of each complaint's updates of one type, in the order updates_of gives them."""
        out: dict[str, list[str]] = {}
        if not complaint_ids:
            return out
        t = table_of(UpdateRow)
        rows = self.session.execute(select(t.c.complaint_id, t.c.event_id).where(
            t.c.complaint_id.in_(list(complaint_ids)), t.c.ce_type == ce_type).order_by(
            t.c.received_at, t.c.event_id)).all()
        for complaint_id, event_id in rows:
            out.setdefault(complaint_id, []).append(event_id)
        return out

    def messages_of_events(self, event_ids: Collection[str]) -> set[tuple[str, str]]:
        """(event id, recipient id) of the messages already queued for these events."""
        if not event_ids:
            return set()
        t = table_of(MessageRow)
        rows = self.session.execute(select(t.c.event_id, t.c.recipient_id).where(
            t.c.event_id.in_(list(event_ids)))).all()
        return {(e, r) for e, r in rows} | {(m.event_id, m.recipient_id) for m in self.messages.values()}

    def opted_out_of(self, keys: Collection[tuple[Channel, str]]) -> set[tuple[Channel, str]]:
        """Which of these (channel, address hash) opted out, in one query."""
        if not keys:
            return set()
        t = table_of(OptOutRow)
        rows = self.session.execute(select(t.c.channel, t.c.address_hash).where(
            tuple_(t.c.channel, t.c.address_hash).in_([(c.value, h) for c, h in keys]))).all()
        return {(Channel(c), h) for c, h in rows}

    def insert_messages(self, messages: Iterable[Message]) -> None:
        """New messages inserted now, in one executemany (not kept for flush_changes: they are not changed)."""
        rows = [_new_message_row(m) for m in messages]
        if rows:
            insert_many(self.session.connection(), table_of(MessageRow), rows)

    def get_messages(self, message_ids: Collection[str]) -> list[Message]:
        """The messages with these ids (those that exist), in one query."""
        wanted = [i for i in message_ids if i not in self.messages]
        if wanted:  # the table's rows, not ORM objects: they are read into Messages at once
            t = table_of(MessageRow)
            for row in self.session.execute(select(t).where(t.c.id.in_(wanted))):
                self._seen_message(row)
        return [self.messages[i] for i in message_ids if i in self.messages]

    def get_recipients(self, recipient_ids: Collection[str]) -> dict[str, Recipient]:
        if not recipient_ids:
            return {}
        t = table_of(RecipientRow)
        rows = self.session.execute(select(t).where(t.c.id.in_(list(set(recipient_ids))))).all()
        return {r.id: _recipient(r) for r in rows}

    # -- messages ------------------------------------------------------------------------------------------------
    def add_message(self, m: Message) -> None:
        self.messages[m.id] = m
        self._new_messages.add(m.id)

    def get_message(self, message_id: str) -> Message | None:
        if message_id in self.messages:
            return self.messages[message_id]
        row = self.session.get(MessageRow, message_id)
        return None if row is None else self._seen_message(row)

    def claim_due_messages(self, channel: Channel, now: datetime, lease_until: datetime, limit: int) -> list[Message]:
        """Up to `limit` due messages of a channel, oldest first, now `sending` under a lease this caller holds."""
        if limit <= 0:
            return []
        due = or_(
            and_(col(MessageRow.status) == DeliveryStatus.PENDING.value, col(MessageRow.next_attempt_at) <= now),
            and_(col(MessageRow.status) == DeliveryStatus.SENDING.value, col(MessageRow.lease_until) <= now),
        )
        ids = self.session.execute(select(col(MessageRow.id)).where(col(MessageRow.channel) == channel.value, due)
                                   .order_by(col(MessageRow.next_attempt_at), col(MessageRow.created_at))
                                   .limit(limit)).scalars().all()
        if not ids:
            return []
        # One statement for the batch; the condition again, for a message another dispatcher claimed meanwhile.
        claimed = self.session.execute(update(MessageRow).where(col(MessageRow.id).in_(ids), due).values(
            status=DeliveryStatus.SENDING.value, lease_until=lease_until).returning(col(MessageRow.id))).scalars().all()
        self.session.flush()
        t = table_of(MessageRow)
        rows = self.session.execute(select(t).where(t.c.id.in_(claimed))).all()
        return [self._seen_message(r) for r in rows]

    def list_messages(self, f: MessageFilter, *, offset: int, limit: int) -> tuple[list[Message], int]:
        conditions = []
        if f.complaint_id:
            conditions.append(col(MessageRow.complaint_id) == f.complaint_id)
        if f.status is not None:
            conditions.append(col(MessageRow.status) == f.status.value)
        if f.channel is not None:
            conditions.append(col(MessageRow.channel) == f.channel.value)
        where = and_(True, *conditions)
        total = self.session.execute(select(func.count()).select_from(MessageRow).where(where)).scalar_one()
        rows = self.session.execute(select(MessageRow).where(where).order_by(
            col(MessageRow.created_at).desc(), col(MessageRow.id)).offset(offset).limit(limit)).scalars().all()
        return [self._seen_message(r) for r in rows], total

    def pending_messages_to(self, channel: Channel, address: str) -> list[Message]:
        rows = self.session.execute(
            select(MessageRow).join(RecipientRow, col(RecipientRow.id) == col(MessageRow.recipient_id)).where(
                col(RecipientRow.channel) == channel.value, col(RecipientRow.address) == address,
                col(MessageRow.status).in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]))
        ).scalars().all()
        return [self._seen_message(r) for r in rows]

    def _seen_message(self, row: MessageRow | Row) -> Message:
        if row.id in self.messages:
            return self.messages[row.id]
        m = Message(
            id=row.id, complaint_id=row.complaint_id, channel=Channel(row.channel), recipient_id=row.recipient_id,
            kind=row.kind, language=row.language, subject=row.subject, body=row.body, event_id=row.event_id,
            created_at=row.created_at, status=DeliveryStatus(row.status), attempts=row.attempts,
            next_attempt_at=row.next_attempt_at, sent_at=row.sent_at, last_error=row.last_error,
            lease_until=row.lease_until, secret=row.secret,
            history=[Attempt(datetime.fromisoformat(a["at"]), Outcome(a["outcome"]), a["detail"])
                     for a in json.loads(row.history)],
        )
        self.messages[m.id] = m
        self._loaded[m.id] = _message_values(m)
        return m

    # -- intake --------------------------------------------------------------------------------------------------
    def add_intake(self, i: Intake) -> bool:
        """False if the channel delivered this message before (same external reference): nothing is added."""
        try:
            with self.session.begin_nested():
                self.session.add(_intake_row(i, IntakeRow(id=i.id, channel=i.channel, sender=i.sender,
                                                          received_at=i.received_at, status=i.status.value)))
                self.session.flush()
        except IntegrityError:
            return False
        self.intake[i.id] = i
        return True

    def get_intake(self, intake_id: str) -> Intake | None:
        if intake_id in self.intake:
            return self.intake[intake_id]
        row = self.session.get(IntakeRow, intake_id)
        return None if row is None else self._seen_intake(row)

    def claim_due_intake(self, now: datetime, lease_until: datetime, limit: int) -> list[Intake]:
        due = and_(col(IntakeRow.status) == IntakeStatus.PENDING.value, col(IntakeRow.next_attempt_at) <= now,
                   or_(col(IntakeRow.lease_until).is_(None), col(IntakeRow.lease_until) <= now))
        ids = self.session.execute(select(col(IntakeRow.id)).where(due).order_by(col(IntakeRow.received_at))
                                   .limit(limit)).scalars().all()
        claimed = [iid for iid in ids if self.session.execute(
            update(IntakeRow).where(col(IntakeRow.id) == iid, due).values(lease_until=lease_until)).rowcount == 1]  # type: ignore[attr-defined]
        self.session.flush()
        rows = self.session.execute(select(IntakeRow).where(col(IntakeRow.id).in_(claimed))).scalars().all()
        return [self._seen_intake(r) for r in rows]

    def set_pending_intake_attachments(self, intake_id: str, attachments: list[str]) -> bool:
        """A pending intake's attachments replaced (its photos fetched), its claim kept; False if it is no longer
        pending."""
        done = self.session.execute(update(IntakeRow).where(
            col(IntakeRow.id) == intake_id, col(IntakeRow.status) == IntakeStatus.PENDING.value).values(
            attachments=json.dumps(attachments)))
        return done.rowcount == 1  # type: ignore[attr-defined]

    def list_intake(self, status: IntakeStatus | None, *, offset: int, limit: int) -> tuple[list[Intake], int]:
        where = and_(True, *([col(IntakeRow.status) == status.value] if status else []))
        total = self.session.execute(select(func.count()).select_from(IntakeRow).where(where)).scalar_one()
        rows = self.session.execute(select(IntakeRow).where(where).order_by(
            col(IntakeRow.received_at).desc(), col(IntakeRow.id)).offset(offset).limit(limit)).scalars().all()
        return [self._seen_intake(r) for r in rows], total

    def _seen_intake(self, row: IntakeRow) -> Intake:
        if row.id in self.intake:
            return self.intake[row.id]
        i = Intake(id=row.id, channel=row.channel, sender=row.sender, received_at=row.received_at,
                   sender_name=row.sender_name, subject=row.subject, text=row.text, external_ref=row.external_ref or "",
                   language=row.language, attachments=json.loads(row.attachments), status=IntakeStatus(row.status),
                   missing=json.loads(row.missing), complaint_id=row.complaint_id, attempts=row.attempts,
                   next_attempt_at=row.next_attempt_at, last_error=row.last_error)
        self.intake[i.id] = i
        return i

    # -- opt-outs ------------------------------------------------------------------------------------------------
    def opted_out(self, channel: Channel, address_hash: str) -> bool:
        return self.session.get(OptOutRow, (channel.value, address_hash)) is not None

    def add_opt_out(self, channel: Channel, address_hash: str, via: str, at: datetime) -> bool:
        """False if the address had opted out already."""
        if self.opted_out(channel, address_hash):
            return False
        self.session.add(OptOutRow(channel=channel.value, address_hash=address_hash, via=via, at=at))
        self.session.flush()
        return True

    # -- chat and SMS conversations ---------------------------------------------------------------------------
    def remember_channel_message(self, channel: str, external_ref: str, at: datetime) -> bool:
        """False if this platform message was received before (a webhook's retry): nothing is added."""
        try:
            with self.session.begin_nested():
                self.session.add(ChannelMessageRow(channel=channel, external_ref=external_ref, received_at=at))
                self.session.flush()
        except IntegrityError:
            return False
        return True

    def forget_channel_messages(self, received_before: datetime) -> int:
        done = self.session.execute(delete(ChannelMessageRow).where(col(ChannelMessageRow.received_at) < received_before))
        return done.rowcount  # type: ignore[attr-defined]

    def get_conversation(self, channel: str, sender: str) -> Conversation | None:
        """Locked until the commit (PostgreSQL; SQLite's write lock is held already): two messages of one sender
        handled at once take turns. Two that start one conversation at once: the second fails on its key, and the
        platform delivers it again."""
        row = self.session.get(ConversationRow, (channel, sender), with_for_update=True)
        if row is None:
            return None
        return Conversation(channel=row.channel, sender=row.sender, started_at=row.started_at, updated_at=row.updated_at,
                            language=row.language, sender_name=row.sender_name, text=row.text, category=row.category,
                            kelurahan=row.kelurahan, asking=row.asking, asked=json.loads(row.asked),
                            attachments=json.loads(row.attachments))

    def save_conversation(self, c: Conversation) -> None:
        row = self.session.get(ConversationRow, (c.channel, c.sender)) or ConversationRow(
            channel=c.channel, sender=c.sender, started_at=c.started_at, updated_at=c.updated_at)
        row.sender_name, row.language, row.text, row.category = c.sender_name, c.language, c.text, c.category
        row.kelurahan, row.asking, row.asked = c.kelurahan, c.asking, json.dumps(c.asked)
        row.attachments, row.started_at, row.updated_at = json.dumps(c.attachments), c.started_at, c.updated_at
        self.session.add(row)
        self.session.flush()

    def end_conversation(self, channel: str, sender: str) -> None:
        self.session.execute(delete(ConversationRow).where(col(ConversationRow.channel) == channel,
                                                           col(ConversationRow.sender) == sender))

    def forget_conversations(self, idle_since: datetime) -> int:
        done = self.session.execute(delete(ConversationRow).where(col(ConversationRow.updated_at) < idle_since))
        return done.rowcount  # type: ignore[attr-defined]

    # -- writing back ----------------------------------------------------------------------------------------------
    def flush_changes(self) -> None:
        changed: list[dict[str, Any]] = []
        for mid, m in self.messages.items():
            values = _message_values(m)
            if mid in self._new_messages:
                self.session.add(MessageRow(id=m.id, complaint_id=m.complaint_id, recipient_id=m.recipient_id,
                                            channel=m.channel.value, kind=m.kind, language=m.language,
                                            subject=m.subject, event_id=m.event_id, created_at=m.created_at, **values))
            elif values != self._loaded.get(mid):  # a message only read (or claimed, as it is) is not written
                changed.append({"b_id": mid, **{f"b_{k}": v for k, v in values.items()}})
                self._loaded[mid] = values
        if changed:  # one executemany for all the changed messages
            t = table_of(MessageRow)
            names = [k.removeprefix("b_") for k in changed[0] if k != "b_id"]
            self.session.connection().execute(t.update().where(t.c.id == bindparam("b_id")).values(
                {k: bindparam(f"b_{k}") for k in names}), changed)
        for iid, i in self.intake.items():
            self.session.execute(update(IntakeRow).where(col(IntakeRow.id) == iid).values(
                status=i.status.value, text=i.text, missing=json.dumps(i.missing), complaint_id=i.complaint_id,
                attempts=i.attempts, next_attempt_at=i.next_attempt_at, last_error=i.last_error, lease_until=None,
                attachments=json.dumps(i.attachments)))
        self._new_messages.clear()
        self.session.flush()


def _message_values(m: Message) -> dict[str, Any]:
    """What of a message changes after it is queued (written back by flush_changes)."""
    return dict(status=m.status.value, attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                lease_until=m.lease_until, sent_at=m.sent_at, last_error=m.last_error, body=m.body, secret=m.secret,
                history=json.dumps([{"at": a.at.isoformat(), "outcome": a.outcome.value, "detail": a.detail}
                                    for a in m.history]))


def _new_message_row(m: Message) -> dict[str, Any]:
    return {"id": m.id, "complaint_id": m.complaint_id, "recipient_id": m.recipient_id, "channel": m.channel.value,
            "kind": m.kind, "language": m.language, "subject": m.subject, "event_id": m.event_id,
            "created_at": m.created_at, **_message_values(m)}


def _recipient(row: RecipientRow | Row) -> Recipient:
    return Recipient(id=row.id, complaint_id=row.complaint_id, channel=Channel(row.channel), address=row.address,
                     language=row.language, acknowledged=row.acknowledged, created_at=row.created_at)


def _intake_row(i: Intake, row: IntakeRow) -> IntakeRow:
    row.external_ref = i.external_ref or None
    row.sender_name, row.subject, row.text, row.language = i.sender_name, i.subject, i.text, i.language
    row.attachments, row.missing, row.complaint_id = json.dumps(i.attachments), json.dumps(i.missing), i.complaint_id
    row.next_attempt_at, row.attempts = i.next_attempt_at, i.attempts
    return row
