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
    CHANNEL_APP: _ClassVar[Channel]
    CHANNEL_WEB: _ClassVar[Channel]
    CHANNEL_TWITTER: _ClassVar[Channel]
    CHANNEL_FACEBOOK: _ClassVar[Channel]
    CHANNEL_INSTAGRAM: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_WHATSAPP: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_CALL_CENTER: _ClassVar[Channel]
    CHANNEL_LAPOR: _ClassVar[Channel]
    CHANNEL_KELURAHAN_WALK_IN: _ClassVar[Channel]
    CHANNEL_KECAMATAN_WALK_IN: _ClassVar[Channel]
    CHANNEL_CITY_HALL_WALK_IN: _ClassVar[Channel]
    CHANNEL_OPEN311: _ClassVar[Channel]
    CHANNEL_SENSOR: _ClassVar[Channel]
    CHANNEL_TELEGRAM: _ClassVar[Channel]

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_RECEIVED: _ClassVar[Status]
    STATUS_ROUTED: _ClassVar[Status]
    STATUS_IN_PROGRESS: _ClassVar[Status]
    STATUS_RESOLVED: _ClassVar[Status]
    STATUS_REJECTED: _ClassVar[Status]
    STATUS_CLOSED: _ClassVar[Status]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_APP: Channel
CHANNEL_WEB: Channel
CHANNEL_TWITTER: Channel
CHANNEL_FACEBOOK: Channel
CHANNEL_INSTAGRAM: Channel
CHANNEL_SMS: Channel
CHANNEL_WHATSAPP: Channel
CHANNEL_EMAIL: Channel
CHANNEL_CALL_CENTER: Channel
CHANNEL_LAPOR: Channel
CHANNEL_KELURAHAN_WALK_IN: Channel
CHANNEL_KECAMATAN_WALK_IN: Channel
CHANNEL_CITY_HALL_WALK_IN: Channel
CHANNEL_OPEN311: Channel
CHANNEL_SENSOR: Channel
CHANNEL_TELEGRAM: Channel
STATUS_UNSPECIFIED: Status
STATUS_RECEIVED: Status
STATUS_ROUTED: Status
STATUS_IN_PROGRESS: Status
STATUS_RESOLVED: Status
STATUS_REJECTED: Status
STATUS_CLOSED: Status

class Location(_message.Message):
    __slots__ = ("lat", "lon", "address", "kelurahan_code", "kelurahan", "kecamatan", "kota", "kota_code")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_CODE_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_FIELD_NUMBER: _ClassVar[int]
    KOTA_FIELD_NUMBER: _ClassVar[int]
    KOTA_CODE_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    address: str
    kelurahan_code: str
    kelurahan: str
    kecamatan: str
    kota: str
    kota_code: str
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., address: _Optional[str] = ..., kelurahan_code: _Optional[str] = ..., kelurahan: _Optional[str] = ..., kecamatan: _Optional[str] = ..., kota: _Optional[str] = ..., kota_code: _Optional[str] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("first_name", "last_name", "email", "phone", "device_id")
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    first_name: str
    last_name: str
    email: str
    phone: str
    device_id: str
    def __init__(self, first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., device_id: _Optional[str] = ...) -> None: ...

class Attribute(_message.Message):
    __slots__ = ("code", "value")
    CODE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    code: str
    value: str
    def __init__(self, code: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("at", "status", "actor", "note", "kind")
    AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    status: Status
    actor: str
    note: str
    kind: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[Status, str]] = ..., actor: _Optional[str] = ..., note: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Complaint(_message.Message):
    __slots__ = ("id", "channel", "service_code", "service_name", "description", "location", "media_urls", "attributes", "status", "agency_code", "agency_name", "unit", "requested_at", "updated_at", "due_at", "sla_breached", "escalation_level", "duplicate_of", "supporters_count", "rating", "status_notes", "history", "reporter_ref", "anonymous", "external_ref")
    ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URLS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SUPPORTERS_COUNT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    STATUS_NOTES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    REPORTER_REF_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    id: str
    channel: Channel
    service_code: str
    service_name: str
    description: str
    location: Location
    media_urls: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    status: Status
    agency_code: str
    agency_name: str
    unit: str
    requested_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    sla_breached: bool
    escalation_level: int
    duplicate_of: str
    supporters_count: int
    rating: int
    status_notes: str
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    reporter_ref: str
    anonymous: bool
    external_ref: str
    def __init__(self, id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., service_code: _Optional[str] = ..., service_name: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., media_urls: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., status: _Optional[_Union[Status, str]] = ..., agency_code: _Optional[str] = ..., agency_name: _Optional[str] = ..., unit: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sla_breached: _Optional[bool] = ..., escalation_level: _Optional[int] = ..., duplicate_of: _Optional[str] = ..., supporters_count: _Optional[int] = ..., rating: _Optional[int] = ..., status_notes: _Optional[str] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., reporter_ref: _Optional[str] = ..., anonymous: _Optional[bool] = ..., external_ref: _Optional[str] = ...) -> None: ...

class SubmitComplaintRequest(_message.Message):
    __slots__ = ("channel", "service_code", "description", "location", "media_urls", "attributes", "contact", "anonymous", "idempotency_key", "external_ref")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URLS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    service_code: str
    description: str
    location: Location
    media_urls: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[Attribute]
    contact: Contact
    anonymous: bool
    idempotency_key: str
    external_ref: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., service_code: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., media_urls: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[Attribute, _Mapping]]] = ..., contact: _Optional[_Union[Contact, _Mapping]] = ..., anonymous: _Optional[bool] = ..., idempotency_key: _Optional[str] = ..., external_ref: _Optional[str] = ...) -> None: ...

class SubmitComplaintResponse(_message.Message):
    __slots__ = ("complaint", "tracking_code")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    tracking_code: str
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ..., tracking_code: _Optional[str] = ...) -> None: ...

class SubmitChannelMessageRequest(_message.Message):
    __slots__ = ("channel", "text", "sender", "sender_name", "subject", "external_ref", "media_urls", "lat", "lon")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    MEDIA_URLS_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    text: str
    sender: str
    sender_name: str
    subject: str
    external_ref: str
    media_urls: _containers.RepeatedScalarFieldContainer[str]
    lat: float
    lon: float
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., text: _Optional[str] = ..., sender: _Optional[str] = ..., sender_name: _Optional[str] = ..., subject: _Optional[str] = ..., external_ref: _Optional[str] = ..., media_urls: _Optional[_Iterable[str]] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ...) -> None: ...

class SubmitChannelMessageResponse(_message.Message):
    __slots__ = ("complaint", "tracking_code", "reply")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    tracking_code: str
    reply: str
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ..., tracking_code: _Optional[str] = ..., reply: _Optional[str] = ...) -> None: ...

class GetComplaintRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class ListComplaintsRequest(_message.Message):
    __slots__ = ("statuses", "service_code", "agency_code", "kota_code", "kelurahan_code", "start_date", "end_date", "ids", "page_size", "page_token", "channel")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    KOTA_CODE_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_CODE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[Status]
    service_code: str
    agency_code: str
    kota_code: str
    kelurahan_code: str
    start_date: _timestamp_pb2.Timestamp
    end_date: _timestamp_pb2.Timestamp
    ids: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    channel: Channel
    def __init__(self, statuses: _Optional[_Iterable[_Union[Status, str]]] = ..., service_code: _Optional[str] = ..., agency_code: _Optional[str] = ..., kota_code: _Optional[str] = ..., kelurahan_code: _Optional[str] = ..., start_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ids: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ...) -> None: ...

class ListComplaintsResponse(_message.Message):
    __slots__ = ("complaints", "next_page_token", "total_size")
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    complaints: _containers.RepeatedCompositeFieldContainer[Complaint]
    next_page_token: str
    total_size: int
    def __init__(self, complaints: _Optional[_Iterable[_Union[Complaint, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateComplaintStatusRequest(_message.Message):
    __slots__ = ("id", "status", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: Status
    note: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[Status, str]] = ..., note: _Optional[str] = ...) -> None: ...

class UpdateComplaintStatusResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class AddComplaintNoteRequest(_message.Message):
    __slots__ = ("id", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    note: str
    def __init__(self, id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AddComplaintNoteResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class RateComplaintRequest(_message.Message):
    __slots__ = ("id", "tracking_code", "rating", "comment")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    tracking_code: str
    rating: int
    comment: str
    def __init__(self, id: _Optional[str] = ..., tracking_code: _Optional[str] = ..., rating: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class RateComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class ReopenComplaintRequest(_message.Message):
    __slots__ = ("id", "tracking_code", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    tracking_code: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., tracking_code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReopenComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ...) -> None: ...

class WatchComplaintsRequest(_message.Message):
    __slots__ = ("id", "agency_code")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    agency_code: str
    def __init__(self, id: _Optional[str] = ..., agency_code: _Optional[str] = ...) -> None: ...

class WatchComplaintsResponse(_message.Message):
    __slots__ = ("complaint", "event_type")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    complaint: Complaint
    event_type: str
    def __init__(self, complaint: _Optional[_Union[Complaint, _Mapping]] = ..., event_type: _Optional[str] = ...) -> None: ...

class ServiceAttribute(_message.Message):
    __slots__ = ("code", "datatype", "required", "description", "values", "order")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    code: str
    datatype: str
    required: bool
    description: str
    values: _containers.RepeatedScalarFieldContainer[str]
    order: int
    def __init__(self, code: _Optional[str] = ..., datatype: _Optional[str] = ..., required: _Optional[bool] = ..., description: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., order: _Optional[int] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("service_code", "service_name", "description", "group", "keywords", "attributes", "agency_code", "sla_hours")
    SERVICE_CODE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    SLA_HOURS_FIELD_NUMBER: _ClassVar[int]
    service_code: str
    service_name: str
    description: str
    group: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[ServiceAttribute]
    agency_code: str
    sla_hours: int
    def __init__(self, service_code: _Optional[str] = ..., service_name: _Optional[str] = ..., description: _Optional[str] = ..., group: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[ServiceAttribute, _Mapping]]] = ..., agency_code: _Optional[str] = ..., sla_hours: _Optional[int] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    def __init__(self, services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ...) -> None: ...

class Agency(_message.Message):
    __slots__ = ("code", "name", "short_name")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHORT_NAME_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    short_name: str
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., short_name: _Optional[str] = ...) -> None: ...

class ListAgenciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgenciesResponse(_message.Message):
    __slots__ = ("agencies",)
    AGENCIES_FIELD_NUMBER: _ClassVar[int]
    agencies: _containers.RepeatedCompositeFieldContainer[Agency]
    def __init__(self, agencies: _Optional[_Iterable[_Union[Agency, _Mapping]]] = ...) -> None: ...
