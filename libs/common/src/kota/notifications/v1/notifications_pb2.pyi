import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_WHATSAPP: _ClassVar[Channel]
    CHANNEL_TELEGRAM: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]

class DeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATUS_UNSPECIFIED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_PENDING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_SENDING: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_SENT: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_FAILED: _ClassVar[DeliveryStatus]
    DELIVERY_STATUS_SUPPRESSED: _ClassVar[DeliveryStatus]

class IntakeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTAKE_STATUS_UNSPECIFIED: _ClassVar[IntakeStatus]
    INTAKE_STATUS_PENDING: _ClassVar[IntakeStatus]
    INTAKE_STATUS_SUBMITTED: _ClassVar[IntakeStatus]
    INTAKE_STATUS_REFUSED: _ClassVar[IntakeStatus]
    INTAKE_STATUS_OPT_OUT: _ClassVar[IntakeStatus]

class ConversationStep(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_STEP_UNSPECIFIED: _ClassVar[ConversationStep]
    CONVERSATION_STEP_ASKED: _ClassVar[ConversationStep]
    CONVERSATION_STEP_QUEUED: _ClassVar[ConversationStep]
    CONVERSATION_STEP_OPTED_OUT: _ClassVar[ConversationStep]
    CONVERSATION_STEP_CANCELLED: _ClassVar[ConversationStep]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_EMAIL: Channel
CHANNEL_WHATSAPP: Channel
CHANNEL_TELEGRAM: Channel
CHANNEL_SMS: Channel
DELIVERY_STATUS_UNSPECIFIED: DeliveryStatus
DELIVERY_STATUS_PENDING: DeliveryStatus
DELIVERY_STATUS_SENDING: DeliveryStatus
DELIVERY_STATUS_SENT: DeliveryStatus
DELIVERY_STATUS_FAILED: DeliveryStatus
DELIVERY_STATUS_SUPPRESSED: DeliveryStatus
INTAKE_STATUS_UNSPECIFIED: IntakeStatus
INTAKE_STATUS_PENDING: IntakeStatus
INTAKE_STATUS_SUBMITTED: IntakeStatus
INTAKE_STATUS_REFUSED: IntakeStatus
INTAKE_STATUS_OPT_OUT: IntakeStatus
CONVERSATION_STEP_UNSPECIFIED: ConversationStep
CONVERSATION_STEP_ASKED: ConversationStep
CONVERSATION_STEP_QUEUED: ConversationStep
CONVERSATION_STEP_OPTED_OUT: ConversationStep
CONVERSATION_STEP_CANCELLED: ConversationStep

class Attempt(_message.Message):
    __slots__ = ("at", "outcome", "detail")
    AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    outcome: str
    detail: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "complaint_id", "channel", "recipient_masked", "kind", "language", "status", "attempts", "created_at", "next_attempt_at", "sent_at", "last_error", "event_id", "history", "body")
    ID_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_MASKED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    id: str
    complaint_id: str
    channel: Channel
    recipient_masked: str
    kind: str
    language: str
    status: DeliveryStatus
    attempts: int
    created_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    sent_at: _timestamp_pb2.Timestamp
    last_error: str
    event_id: str
    history: _containers.RepeatedCompositeFieldContainer[Attempt]
    body: str
    def __init__(self, id: _Optional[str] = ..., complaint_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., recipient_masked: _Optional[str] = ..., kind: _Optional[str] = ..., language: _Optional[str] = ..., status: _Optional[_Union[DeliveryStatus, str]] = ..., attempts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., event_id: _Optional[str] = ..., history: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., body: _Optional[str] = ...) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetMessageResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: Message
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("complaint_id", "status", "channel", "page_size", "page_token")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    status: DeliveryStatus
    channel: Channel
    page_size: int
    page_token: str
    def __init__(self, complaint_id: _Optional[str] = ..., status: _Optional[_Union[DeliveryStatus, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token", "total")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    next_page_token: str
    total: int
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class RetryMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RetryMessageResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: Message
    def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...

class RegisterRecipientRequest(_message.Message):
    __slots__ = ("complaint_id", "channel", "address", "language")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    channel: Channel
    address: str
    language: str
    def __init__(self, complaint_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., address: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class RegisterRecipientResponse(_message.Message):
    __slots__ = ("queued",)
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    queued: int
    def __init__(self, queued: _Optional[int] = ...) -> None: ...

class OptOutRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class OptOutResponse(_message.Message):
    __slots__ = ("channel", "recipient_masked")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_MASKED_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    recipient_masked: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., recipient_masked: _Optional[str] = ...) -> None: ...

class Intake(_message.Message):
    __slots__ = ("id", "channel", "sender_masked", "subject", "status", "complaint_id", "missing", "attempts", "received_at", "next_attempt_at", "last_error", "attachments")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENDER_MASKED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    channel: Channel
    sender_masked: str
    subject: str
    status: IntakeStatus
    complaint_id: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    attempts: int
    received_at: _timestamp_pb2.Timestamp
    next_attempt_at: _timestamp_pb2.Timestamp
    last_error: str
    attachments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., sender_masked: _Optional[str] = ..., subject: _Optional[str] = ..., status: _Optional[_Union[IntakeStatus, str]] = ..., complaint_id: _Optional[str] = ..., missing: _Optional[_Iterable[str]] = ..., attempts: _Optional[int] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., attachments: _Optional[_Iterable[str]] = ...) -> None: ...

class ListIntakeRequest(_message.Message):
    __slots__ = ("status", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: IntakeStatus
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[IntakeStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIntakeResponse(_message.Message):
    __slots__ = ("intake", "next_page_token", "total")
    INTAKE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    intake: _containers.RepeatedCompositeFieldContainer[Intake]
    next_page_token: str
    total: int
    def __init__(self, intake: _Optional[_Iterable[_Union[Intake, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class ReceiveChannelMessageRequest(_message.Message):
    __slots__ = ("channel", "sender", "sender_name", "message_id", "text", "language", "attachments")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    sender: str
    sender_name: str
    message_id: str
    text: str
    language: str
    attachments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., sender: _Optional[str] = ..., sender_name: _Optional[str] = ..., message_id: _Optional[str] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., attachments: _Optional[_Iterable[str]] = ...) -> None: ...

class ReceiveChannelMessageResponse(_message.Message):
    __slots__ = ("duplicate", "step", "missing", "intake_id")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    INTAKE_ID_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    step: ConversationStep
    missing: _containers.RepeatedScalarFieldContainer[str]
    intake_id: str
    def __init__(self, duplicate: _Optional[bool] = ..., step: _Optional[_Union[ConversationStep, str]] = ..., missing: _Optional[_Iterable[str]] = ..., intake_id: _Optional[str] = ...) -> None: ...
