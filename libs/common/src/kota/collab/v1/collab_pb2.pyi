import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from kota.opendata.v1 import opendata_pb2 as _opendata_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartnershipKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTNERSHIP_KIND_UNSPECIFIED: _ClassVar[PartnershipKind]
    PARTNERSHIP_KIND_SISTER_CITY: _ClassVar[PartnershipKind]
    PARTNERSHIP_KIND_MOU: _ClassVar[PartnershipKind]
    PARTNERSHIP_KIND_ASCN_PROJECT: _ClassVar[PartnershipKind]
    PARTNERSHIP_KIND_TECHNICAL_COOPERATION: _ClassVar[PartnershipKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ACCEPT: _ClassVar[Decision]
    DECISION_DECLINE: _ClassVar[Decision]
    DECISION_SIGN: _ClassVar[Decision]
    DECISION_ACTIVATE: _ClassVar[Decision]
    DECISION_RENEW: _ClassVar[Decision]
    DECISION_END: _ClassVar[Decision]
    DECISION_EXPIRE: _ClassVar[Decision]

class ActivityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVITY_KIND_UNSPECIFIED: _ClassVar[ActivityKind]
    ACTIVITY_KIND_VISIT_IN_PERSON: _ClassVar[ActivityKind]
    ACTIVITY_KIND_VISIT_VIRTUAL: _ClassVar[ActivityKind]
    ACTIVITY_KIND_WORKSHOP: _ClassVar[ActivityKind]
    ACTIVITY_KIND_SHARED_SOLUTION: _ClassVar[ActivityKind]
PARTNERSHIP_KIND_UNSPECIFIED: PartnershipKind
PARTNERSHIP_KIND_SISTER_CITY: PartnershipKind
PARTNERSHIP_KIND_MOU: PartnershipKind
PARTNERSHIP_KIND_ASCN_PROJECT: PartnershipKind
PARTNERSHIP_KIND_TECHNICAL_COOPERATION: PartnershipKind
DECISION_UNSPECIFIED: Decision
DECISION_ACCEPT: Decision
DECISION_DECLINE: Decision
DECISION_SIGN: Decision
DECISION_ACTIVATE: Decision
DECISION_RENEW: Decision
DECISION_END: Decision
DECISION_EXPIRE: Decision
ACTIVITY_KIND_UNSPECIFIED: ActivityKind
ACTIVITY_KIND_VISIT_IN_PERSON: ActivityKind
ACTIVITY_KIND_VISIT_VIRTUAL: ActivityKind
ACTIVITY_KIND_WORKSHOP: ActivityKind
ACTIVITY_KIND_SHARED_SOLUTION: ActivityKind

class City(_message.Message):
    __slots__ = ("id", "name", "country", "region", "population", "ascn_member", "endpoint", "home", "latitude", "longitude", "has_location")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    POPULATION_FIELD_NUMBER: _ClassVar[int]
    ASCN_MEMBER_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    HOME_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    HAS_LOCATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    country: str
    region: str
    population: int
    ascn_member: bool
    endpoint: str
    home: bool
    latitude: float
    longitude: float
    has_location: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., country: _Optional[str] = ..., region: _Optional[str] = ..., population: _Optional[int] = ..., ascn_member: _Optional[bool] = ..., endpoint: _Optional[str] = ..., home: _Optional[bool] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., has_location: _Optional[bool] = ...) -> None: ...

class Party(_message.Message):
    __slots__ = ("city_id", "role", "since", "until")
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    city_id: str
    role: str
    since: str
    until: str
    def __init__(self, city_id: _Optional[str] = ..., role: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("seq", "status", "at", "city_id", "actor", "note", "signed_on", "document_url", "valid_until")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SIGNED_ON_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_URL_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    status: str
    at: _timestamp_pb2.Timestamp
    city_id: str
    actor: str
    note: str
    signed_on: str
    document_url: str
    valid_until: str
    def __init__(self, seq: _Optional[int] = ..., status: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., city_id: _Optional[str] = ..., actor: _Optional[str] = ..., note: _Optional[str] = ..., signed_on: _Optional[str] = ..., document_url: _Optional[str] = ..., valid_until: _Optional[str] = ...) -> None: ...

class Partnership(_message.Message):
    __slots__ = ("id", "kind", "title", "scope", "focus_areas", "parties", "status", "signed_on", "document_url", "valid_until", "history", "federated", "sync_pending")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    FOCUS_AREAS_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIGNED_ON_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_URL_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    FEDERATED_FIELD_NUMBER: _ClassVar[int]
    SYNC_PENDING_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: PartnershipKind
    title: str
    scope: str
    focus_areas: _containers.RepeatedScalarFieldContainer[str]
    parties: _containers.RepeatedCompositeFieldContainer[Party]
    status: str
    signed_on: str
    document_url: str
    valid_until: str
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    federated: bool
    sync_pending: bool
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[PartnershipKind, str]] = ..., title: _Optional[str] = ..., scope: _Optional[str] = ..., focus_areas: _Optional[_Iterable[str]] = ..., parties: _Optional[_Iterable[_Union[Party, _Mapping]]] = ..., status: _Optional[str] = ..., signed_on: _Optional[str] = ..., document_url: _Optional[str] = ..., valid_until: _Optional[str] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., federated: _Optional[bool] = ..., sync_pending: _Optional[bool] = ...) -> None: ...

class Agreement(_message.Message):
    __slots__ = ("id", "partnership_id", "city_id", "dataset_ids", "streams", "valid_until", "granted_at", "granted_by", "revoked_at", "revoked_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_IDS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    partnership_id: str
    city_id: str
    dataset_ids: _containers.RepeatedScalarFieldContainer[str]
    streams: _containers.RepeatedScalarFieldContainer[str]
    valid_until: str
    granted_at: _timestamp_pb2.Timestamp
    granted_by: str
    revoked_at: _timestamp_pb2.Timestamp
    revoked_by: str
    def __init__(self, id: _Optional[str] = ..., partnership_id: _Optional[str] = ..., city_id: _Optional[str] = ..., dataset_ids: _Optional[_Iterable[str]] = ..., streams: _Optional[_Iterable[str]] = ..., valid_until: _Optional[str] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granted_by: _Optional[str] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_by: _Optional[str] = ...) -> None: ...

class Activity(_message.Message):
    __slots__ = ("id", "partnership_id", "kind", "title", "starts_on", "ends_on", "participants", "outcomes")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STARTS_ON_FIELD_NUMBER: _ClassVar[int]
    ENDS_ON_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    id: str
    partnership_id: str
    kind: ActivityKind
    title: str
    starts_on: str
    ends_on: str
    participants: int
    outcomes: str
    def __init__(self, id: _Optional[str] = ..., partnership_id: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ..., title: _Optional[str] = ..., starts_on: _Optional[str] = ..., ends_on: _Optional[str] = ..., participants: _Optional[int] = ..., outcomes: _Optional[str] = ...) -> None: ...

class RegisterCityRequest(_message.Message):
    __slots__ = ("city",)
    CITY_FIELD_NUMBER: _ClassVar[int]
    city: City
    def __init__(self, city: _Optional[_Union[City, _Mapping]] = ...) -> None: ...

class RegisterCityResponse(_message.Message):
    __slots__ = ("city",)
    CITY_FIELD_NUMBER: _ClassVar[int]
    city: City
    def __init__(self, city: _Optional[_Union[City, _Mapping]] = ...) -> None: ...

class ListCitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCitiesResponse(_message.Message):
    __slots__ = ("cities",)
    CITIES_FIELD_NUMBER: _ClassVar[int]
    cities: _containers.RepeatedCompositeFieldContainer[City]
    def __init__(self, cities: _Optional[_Iterable[_Union[City, _Mapping]]] = ...) -> None: ...

class CreatePartnershipRequest(_message.Message):
    __slots__ = ("kind", "title", "focus_areas", "partner_city_ids", "status", "signed_on", "document_url", "valid_until", "note", "request_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FOCUS_AREAS_FIELD_NUMBER: _ClassVar[int]
    PARTNER_CITY_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIGNED_ON_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_URL_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    kind: PartnershipKind
    title: str
    focus_areas: _containers.RepeatedScalarFieldContainer[str]
    partner_city_ids: _containers.RepeatedScalarFieldContainer[str]
    status: str
    signed_on: str
    document_url: str
    valid_until: str
    note: str
    request_id: str
    def __init__(self, kind: _Optional[_Union[PartnershipKind, str]] = ..., title: _Optional[str] = ..., focus_areas: _Optional[_Iterable[str]] = ..., partner_city_ids: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., signed_on: _Optional[str] = ..., document_url: _Optional[str] = ..., valid_until: _Optional[str] = ..., note: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreatePartnershipResponse(_message.Message):
    __slots__ = ("partnership",)
    PARTNERSHIP_FIELD_NUMBER: _ClassVar[int]
    partnership: Partnership
    def __init__(self, partnership: _Optional[_Union[Partnership, _Mapping]] = ...) -> None: ...

class GetPartnershipRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPartnershipResponse(_message.Message):
    __slots__ = ("partnership", "agreements", "activities")
    PARTNERSHIP_FIELD_NUMBER: _ClassVar[int]
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    partnership: Partnership
    agreements: _containers.RepeatedCompositeFieldContainer[Agreement]
    activities: _containers.RepeatedCompositeFieldContainer[Activity]
    def __init__(self, partnership: _Optional[_Union[Partnership, _Mapping]] = ..., agreements: _Optional[_Iterable[_Union[Agreement, _Mapping]]] = ..., activities: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ...) -> None: ...

class ListPartnershipsRequest(_message.Message):
    __slots__ = ("city_id", "kind", "status")
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    city_id: str
    kind: PartnershipKind
    status: str
    def __init__(self, city_id: _Optional[str] = ..., kind: _Optional[_Union[PartnershipKind, str]] = ..., status: _Optional[str] = ...) -> None: ...

class ListPartnershipsResponse(_message.Message):
    __slots__ = ("partnerships",)
    PARTNERSHIPS_FIELD_NUMBER: _ClassVar[int]
    partnerships: _containers.RepeatedCompositeFieldContainer[Partnership]
    def __init__(self, partnerships: _Optional[_Iterable[_Union[Partnership, _Mapping]]] = ...) -> None: ...

class DecidePartnershipRequest(_message.Message):
    __slots__ = ("id", "decision", "note", "signed_on", "document_url", "valid_until")
    ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SIGNED_ON_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_URL_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    id: str
    decision: Decision
    note: str
    signed_on: str
    document_url: str
    valid_until: str
    def __init__(self, id: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., note: _Optional[str] = ..., signed_on: _Optional[str] = ..., document_url: _Optional[str] = ..., valid_until: _Optional[str] = ...) -> None: ...

class DecidePartnershipResponse(_message.Message):
    __slots__ = ("partnership",)
    PARTNERSHIP_FIELD_NUMBER: _ClassVar[int]
    partnership: Partnership
    def __init__(self, partnership: _Optional[_Union[Partnership, _Mapping]] = ...) -> None: ...

class GrantAgreementRequest(_message.Message):
    __slots__ = ("partnership_id", "city_id", "dataset_ids", "streams", "valid_until")
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_IDS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    partnership_id: str
    city_id: str
    dataset_ids: _containers.RepeatedScalarFieldContainer[str]
    streams: _containers.RepeatedScalarFieldContainer[str]
    valid_until: str
    def __init__(self, partnership_id: _Optional[str] = ..., city_id: _Optional[str] = ..., dataset_ids: _Optional[_Iterable[str]] = ..., streams: _Optional[_Iterable[str]] = ..., valid_until: _Optional[str] = ...) -> None: ...

class GrantAgreementResponse(_message.Message):
    __slots__ = ("agreement",)
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    agreement: Agreement
    def __init__(self, agreement: _Optional[_Union[Agreement, _Mapping]] = ...) -> None: ...

class RevokeAgreementRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeAgreementResponse(_message.Message):
    __slots__ = ("agreement",)
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    agreement: Agreement
    def __init__(self, agreement: _Optional[_Union[Agreement, _Mapping]] = ...) -> None: ...

class RecordActivityRequest(_message.Message):
    __slots__ = ("partnership_id", "kind", "title", "starts_on", "ends_on", "participants", "outcomes")
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STARTS_ON_FIELD_NUMBER: _ClassVar[int]
    ENDS_ON_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    partnership_id: str
    kind: ActivityKind
    title: str
    starts_on: str
    ends_on: str
    participants: int
    outcomes: str
    def __init__(self, partnership_id: _Optional[str] = ..., kind: _Optional[_Union[ActivityKind, str]] = ..., title: _Optional[str] = ..., starts_on: _Optional[str] = ..., ends_on: _Optional[str] = ..., participants: _Optional[int] = ..., outcomes: _Optional[str] = ...) -> None: ...

class RecordActivityResponse(_message.Message):
    __slots__ = ("activity",)
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    activity: Activity
    def __init__(self, activity: _Optional[_Union[Activity, _Mapping]] = ...) -> None: ...

class ListActivitiesRequest(_message.Message):
    __slots__ = ("partnership_id", "city_id")
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    partnership_id: str
    city_id: str
    def __init__(self, partnership_id: _Optional[str] = ..., city_id: _Optional[str] = ...) -> None: ...

class ListActivitiesResponse(_message.Message):
    __slots__ = ("activities",)
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    activities: _containers.RepeatedCompositeFieldContainer[Activity]
    def __init__(self, activities: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ...) -> None: ...

class ListAgreementsRequest(_message.Message):
    __slots__ = ("partnership_id", "city_id")
    PARTNERSHIP_ID_FIELD_NUMBER: _ClassVar[int]
    CITY_ID_FIELD_NUMBER: _ClassVar[int]
    partnership_id: str
    city_id: str
    def __init__(self, partnership_id: _Optional[str] = ..., city_id: _Optional[str] = ...) -> None: ...

class ListAgreementsResponse(_message.Message):
    __slots__ = ("agreements",)
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    agreements: _containers.RepeatedCompositeFieldContainer[Agreement]
    def __init__(self, agreements: _Optional[_Iterable[_Union[Agreement, _Mapping]]] = ...) -> None: ...

class SyncPartnershipRequest(_message.Message):
    __slots__ = ("partnership", "sender")
    PARTNERSHIP_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    partnership: Partnership
    sender: City
    def __init__(self, partnership: _Optional[_Union[Partnership, _Mapping]] = ..., sender: _Optional[_Union[City, _Mapping]] = ...) -> None: ...

class SyncPartnershipResponse(_message.Message):
    __slots__ = ("partnership", "applied")
    PARTNERSHIP_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    partnership: Partnership
    applied: bool
    def __init__(self, partnership: _Optional[_Union[Partnership, _Mapping]] = ..., applied: _Optional[bool] = ...) -> None: ...

class ListSharedDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SharedDataset(_message.Message):
    __slots__ = ("dataset_id", "agreement_id", "valid_until")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    agreement_id: str
    valid_until: str
    def __init__(self, dataset_id: _Optional[str] = ..., agreement_id: _Optional[str] = ..., valid_until: _Optional[str] = ...) -> None: ...

class ListSharedDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[SharedDataset]
    def __init__(self, datasets: _Optional[_Iterable[_Union[SharedDataset, _Mapping]]] = ...) -> None: ...

class GetSharedDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class GetSharedDatasetResponse(_message.Message):
    __slots__ = ("dataset", "agreement_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: _opendata_pb2.Dataset
    agreement_id: str
    def __init__(self, dataset: _Optional[_Union[_opendata_pb2.Dataset, _Mapping]] = ..., agreement_id: _Optional[str] = ...) -> None: ...

class QuerySharedDatasetRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: _opendata_pb2.QueryRecordsRequest
    def __init__(self, query: _Optional[_Union[_opendata_pb2.QueryRecordsRequest, _Mapping]] = ...) -> None: ...

class QuerySharedDatasetResponse(_message.Message):
    __slots__ = ("result", "agreement_id")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    result: _opendata_pb2.QueryRecordsResponse
    agreement_id: str
    def __init__(self, result: _Optional[_Union[_opendata_pb2.QueryRecordsResponse, _Mapping]] = ..., agreement_id: _Optional[str] = ...) -> None: ...

class SubscribeSharedEventsRequest(_message.Message):
    __slots__ = ("stream", "position", "max_batch")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    stream: str
    position: str
    max_batch: int
    def __init__(self, stream: _Optional[str] = ..., position: _Optional[str] = ..., max_batch: _Optional[int] = ...) -> None: ...

class SubscribeSharedEventsResponse(_message.Message):
    __slots__ = ("position", "stream", "type", "time", "data_json", "agreement_id", "events")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    position: str
    stream: str
    type: str
    time: _timestamp_pb2.Timestamp
    data_json: str
    agreement_id: str
    events: _containers.RepeatedCompositeFieldContainer[SharedEvent]
    def __init__(self, position: _Optional[str] = ..., stream: _Optional[str] = ..., type: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ..., agreement_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[SharedEvent, _Mapping]]] = ...) -> None: ...

class SharedEvent(_message.Message):
    __slots__ = ("position", "type", "time", "data_json")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    position: str
    type: str
    time: _timestamp_pb2.Timestamp
    data_json: str
    def __init__(self, position: _Optional[str] = ..., type: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ...) -> None: ...
