import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_UNSPECIFIED: _ClassVar[Level]
    LEVEL_RW: _ClassVar[Level]
    LEVEL_KELURAHAN: _ClassVar[Level]
    LEVEL_KECAMATAN: _ClassVar[Level]
    LEVEL_KOTA: _ClassVar[Level]
    LEVEL_PROVINSI: _ClassVar[Level]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_VERIFY: _ClassVar[Decision]
    DECISION_REJECT: _ClassVar[Decision]
    DECISION_PRIORITISE: _ClassVar[Decision]
    DECISION_ACCEPT: _ClassVar[Decision]
    DECISION_START_REALISATION: _ClassVar[Decision]
    DECISION_FINISH: _ClassVar[Decision]
    DECISION_NOT_REALISED: _ClassVar[Decision]
    DECISION_SUBMIT: _ClassVar[Decision]
    DECISION_ASSESS: _ClassVar[Decision]
LEVEL_UNSPECIFIED: Level
LEVEL_RW: Level
LEVEL_KELURAHAN: Level
LEVEL_KECAMATAN: Level
LEVEL_KOTA: Level
LEVEL_PROVINSI: Level
DECISION_UNSPECIFIED: Decision
DECISION_VERIFY: Decision
DECISION_REJECT: Decision
DECISION_PRIORITISE: Decision
DECISION_ACCEPT: Decision
DECISION_START_REALISATION: Decision
DECISION_FINISH: Decision
DECISION_NOT_REALISED: Decision
DECISION_SUBMIT: Decision
DECISION_ASSESS: Decision

class StageWindow(_message.Message):
    __slots__ = ("level", "name", "opens", "closes", "open_now")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPENS_FIELD_NUMBER: _ClassVar[int]
    CLOSES_FIELD_NUMBER: _ClassVar[int]
    OPEN_NOW_FIELD_NUMBER: _ClassVar[int]
    level: Level
    name: str
    opens: _timestamp_pb2.Timestamp
    closes: _timestamp_pb2.Timestamp
    open_now: bool
    def __init__(self, level: _Optional[_Union[Level, str]] = ..., name: _Optional[str] = ..., opens: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closes: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_now: _Optional[bool] = ...) -> None: ...

class Cycle(_message.Message):
    __slots__ = ("year", "stages", "support_limit")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    year: int
    stages: _containers.RepeatedCompositeFieldContainer[StageWindow]
    support_limit: int
    def __init__(self, year: _Optional[int] = ..., stages: _Optional[_Iterable[_Union[StageWindow, _Mapping]]] = ..., support_limit: _Optional[int] = ...) -> None: ...

class GetCycleRequest(_message.Message):
    __slots__ = ("year",)
    YEAR_FIELD_NUMBER: _ClassVar[int]
    year: int
    def __init__(self, year: _Optional[int] = ...) -> None: ...

class GetCycleResponse(_message.Message):
    __slots__ = ("cycle",)
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    cycle: Cycle
    def __init__(self, cycle: _Optional[_Union[Cycle, _Mapping]] = ...) -> None: ...

class Activity(_message.Message):
    __slots__ = ("code", "name", "unit", "unit_cost", "field", "agency_code")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    UNIT_COST_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    name: str
    unit: str
    unit_cost: int
    field: str
    agency_code: str
    def __init__(self, code: _Optional[str] = ..., name: _Optional[str] = ..., unit: _Optional[str] = ..., unit_cost: _Optional[int] = ..., field: _Optional[str] = ..., agency_code: _Optional[str] = ...) -> None: ...

class ListActivitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActivitiesResponse(_message.Message):
    __slots__ = ("activities",)
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    activities: _containers.RepeatedCompositeFieldContainer[Activity]
    def __init__(self, activities: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ...) -> None: ...

class CheckResidentRequest(_message.Message):
    __slots__ = ("nik", "kelurahan_code")
    NIK_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_CODE_FIELD_NUMBER: _ClassVar[int]
    nik: str
    kelurahan_code: str
    def __init__(self, nik: _Optional[str] = ..., kelurahan_code: _Optional[str] = ...) -> None: ...

class CheckResidentResponse(_message.Message):
    __slots__ = ("eligible", "reason", "supports_left")
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    eligible: bool
    reason: str
    supports_left: int
    def __init__(self, eligible: _Optional[bool] = ..., reason: _Optional[str] = ..., supports_left: _Optional[int] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("kelurahan_code", "kelurahan", "kecamatan_code", "kecamatan", "rw", "rt", "address", "lat", "lon", "has_point")
    KELURAHAN_CODE_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_FIELD_NUMBER: _ClassVar[int]
    RW_FIELD_NUMBER: _ClassVar[int]
    RT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    HAS_POINT_FIELD_NUMBER: _ClassVar[int]
    kelurahan_code: str
    kelurahan: str
    kecamatan_code: str
    kecamatan: str
    rw: str
    rt: str
    address: str
    lat: float
    lon: float
    has_point: bool
    def __init__(self, kelurahan_code: _Optional[str] = ..., kelurahan: _Optional[str] = ..., kecamatan_code: _Optional[str] = ..., kecamatan: _Optional[str] = ..., rw: _Optional[str] = ..., rt: _Optional[str] = ..., address: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., has_point: _Optional[bool] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("at", "status", "actor", "reason", "level")
    AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    status: str
    actor: str
    reason: str
    level: Level
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., level: _Optional[_Union[Level, str]] = ...) -> None: ...

class Milestone(_message.Message):
    __slots__ = ("title", "progress_percent", "at", "photo_url", "note")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    PHOTO_URL_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    title: str
    progress_percent: int
    at: _timestamp_pb2.Timestamp
    photo_url: str
    note: str
    def __init__(self, title: _Optional[str] = ..., progress_percent: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., photo_url: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ScorePart(_message.Message):
    __slots__ = ("criterion", "points", "weight", "contribution", "explanation")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    points: int
    weight: float
    contribution: float
    explanation: str
    def __init__(self, criterion: _Optional[str] = ..., points: _Optional[int] = ..., weight: _Optional[float] = ..., contribution: _Optional[float] = ..., explanation: _Optional[str] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("total", "parts")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    total: float
    parts: _containers.RepeatedCompositeFieldContainer[ScorePart]
    def __init__(self, total: _Optional[float] = ..., parts: _Optional[_Iterable[_Union[ScorePart, _Mapping]]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("complaint_count", "alert_count", "summaries")
    COMPLAINT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALERT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    complaint_count: int
    alert_count: int
    summaries: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, complaint_count: _Optional[int] = ..., alert_count: _Optional[int] = ..., summaries: _Optional[_Iterable[str]] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("id", "cycle_year", "title", "problem", "activity", "volume", "cost", "location", "photo_url", "status", "level", "support_count", "score", "evidence", "history", "milestones", "merged_into", "created", "updated", "progress_percent")
    ID_FIELD_NUMBER: _ClassVar[int]
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    PHOTO_URL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    MILESTONES_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    cycle_year: int
    title: str
    problem: str
    activity: Activity
    volume: int
    cost: int
    location: Location
    photo_url: str
    status: str
    level: Level
    support_count: int
    score: Score
    evidence: Evidence
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    milestones: _containers.RepeatedCompositeFieldContainer[Milestone]
    merged_into: str
    created: _timestamp_pb2.Timestamp
    updated: _timestamp_pb2.Timestamp
    progress_percent: int
    def __init__(self, id: _Optional[str] = ..., cycle_year: _Optional[int] = ..., title: _Optional[str] = ..., problem: _Optional[str] = ..., activity: _Optional[_Union[Activity, _Mapping]] = ..., volume: _Optional[int] = ..., cost: _Optional[int] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., photo_url: _Optional[str] = ..., status: _Optional[str] = ..., level: _Optional[_Union[Level, str]] = ..., support_count: _Optional[int] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., milestones: _Optional[_Iterable[_Union[Milestone, _Mapping]]] = ..., merged_into: _Optional[str] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress_percent: _Optional[int] = ...) -> None: ...

class SimilarProposal(_message.Message):
    __slots__ = ("proposal_id", "title", "similarity", "distance_km", "reasons")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    title: str
    similarity: float
    distance_km: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, proposal_id: _Optional[str] = ..., title: _Optional[str] = ..., similarity: _Optional[float] = ..., distance_km: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitProposalRequest(_message.Message):
    __slots__ = ("nik", "title", "problem", "activity_code", "volume", "location", "photo_url", "draft", "request_id")
    NIK_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_CODE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    PHOTO_URL_FIELD_NUMBER: _ClassVar[int]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    nik: str
    title: str
    problem: str
    activity_code: str
    volume: int
    location: Location
    photo_url: str
    draft: bool
    request_id: str
    def __init__(self, nik: _Optional[str] = ..., title: _Optional[str] = ..., problem: _Optional[str] = ..., activity_code: _Optional[str] = ..., volume: _Optional[int] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., photo_url: _Optional[str] = ..., draft: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitProposalResponse(_message.Message):
    __slots__ = ("proposal", "similar")
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    similar: _containers.RepeatedCompositeFieldContainer[SimilarProposal]
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ..., similar: _Optional[_Iterable[_Union[SimilarProposal, _Mapping]]] = ...) -> None: ...

class GetProposalRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class ListProposalsRequest(_message.Message):
    __slots__ = ("cycle_year", "kelurahan_code", "kecamatan_code", "status", "activity_code", "q", "page_size", "page_token", "order_by")
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    KELURAHAN_CODE_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_CODE_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    cycle_year: int
    kelurahan_code: str
    kecamatan_code: str
    status: str
    activity_code: str
    q: str
    page_size: int
    page_token: str
    order_by: str
    def __init__(self, cycle_year: _Optional[int] = ..., kelurahan_code: _Optional[str] = ..., kecamatan_code: _Optional[str] = ..., status: _Optional[str] = ..., activity_code: _Optional[str] = ..., q: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListProposalsResponse(_message.Message):
    __slots__ = ("proposals", "next_page_token", "total")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[Proposal]
    next_page_token: str
    total: int
    def __init__(self, proposals: _Optional[_Iterable[_Union[Proposal, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class SupportProposalRequest(_message.Message):
    __slots__ = ("proposal_id", "nik")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    NIK_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    nik: str
    def __init__(self, proposal_id: _Optional[str] = ..., nik: _Optional[str] = ...) -> None: ...

class SupportProposalResponse(_message.Message):
    __slots__ = ("support_count", "supports_left", "added")
    SUPPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    support_count: int
    supports_left: int
    added: bool
    def __init__(self, support_count: _Optional[int] = ..., supports_left: _Optional[int] = ..., added: _Optional[bool] = ...) -> None: ...

class WithdrawSupportRequest(_message.Message):
    __slots__ = ("proposal_id", "nik")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    NIK_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    nik: str
    def __init__(self, proposal_id: _Optional[str] = ..., nik: _Optional[str] = ...) -> None: ...

class WithdrawSupportResponse(_message.Message):
    __slots__ = ("support_count", "supports_left")
    SUPPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    support_count: int
    supports_left: int
    def __init__(self, support_count: _Optional[int] = ..., supports_left: _Optional[int] = ...) -> None: ...

class Assessment(_message.Message):
    __slots__ = ("urgency", "beneficiaries", "alignment")
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARIES_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    urgency: int
    beneficiaries: int
    alignment: int
    def __init__(self, urgency: _Optional[int] = ..., beneficiaries: _Optional[int] = ..., alignment: _Optional[int] = ...) -> None: ...

class ReviewProposalRequest(_message.Message):
    __slots__ = ("id", "decision", "reason", "assessment", "rank", "level")
    ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    decision: Decision
    reason: str
    assessment: Assessment
    rank: int
    level: Level
    def __init__(self, id: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[str] = ..., assessment: _Optional[_Union[Assessment, _Mapping]] = ..., rank: _Optional[int] = ..., level: _Optional[_Union[Level, str]] = ...) -> None: ...

class ReviewProposalResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class MergeProposalsRequest(_message.Message):
    __slots__ = ("target_id", "source_id")
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    source_id: str
    def __init__(self, target_id: _Optional[str] = ..., source_id: _Optional[str] = ...) -> None: ...

class MergeProposalsResponse(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: Proposal
    def __init__(self, target: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class RecordMilestoneRequest(_message.Message):
    __slots__ = ("proposal_id", "milestone")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    MILESTONE_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    milestone: Milestone
    def __init__(self, proposal_id: _Optional[str] = ..., milestone: _Optional[_Union[Milestone, _Mapping]] = ...) -> None: ...

class RecordMilestoneResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class FieldAmount(_message.Message):
    __slots__ = ("field", "amount")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    field: str
    amount: int
    def __init__(self, field: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class AgencyAmount(_message.Message):
    __slots__ = ("agency_code", "amount")
    AGENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    agency_code: str
    amount: int
    def __init__(self, agency_code: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class RunSelectionRequest(_message.Message):
    __slots__ = ("kecamatan_code", "cycle_year", "budget", "field_minimums", "agency_ceilings", "attendees")
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    FIELD_MINIMUMS_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CEILINGS_FIELD_NUMBER: _ClassVar[int]
    ATTENDEES_FIELD_NUMBER: _ClassVar[int]
    kecamatan_code: str
    cycle_year: int
    budget: int
    field_minimums: _containers.RepeatedCompositeFieldContainer[FieldAmount]
    agency_ceilings: _containers.RepeatedCompositeFieldContainer[AgencyAmount]
    attendees: int
    def __init__(self, kecamatan_code: _Optional[str] = ..., cycle_year: _Optional[int] = ..., budget: _Optional[int] = ..., field_minimums: _Optional[_Iterable[_Union[FieldAmount, _Mapping]]] = ..., agency_ceilings: _Optional[_Iterable[_Union[AgencyAmount, _Mapping]]] = ..., attendees: _Optional[int] = ...) -> None: ...

class SelectionDecision(_message.Message):
    __slots__ = ("proposal_id", "title", "selected", "reason", "score", "cost")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SELECTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    title: str
    selected: bool
    reason: str
    score: float
    cost: int
    def __init__(self, proposal_id: _Optional[str] = ..., title: _Optional[str] = ..., selected: _Optional[bool] = ..., reason: _Optional[str] = ..., score: _Optional[float] = ..., cost: _Optional[int] = ...) -> None: ...

class Selection(_message.Message):
    __slots__ = ("id", "kecamatan_code", "kecamatan", "cycle_year", "budget", "field_minimums", "agency_ceilings", "total_score", "total_cost", "status", "solver", "decisions", "greedy_total_score", "attendees", "decided_at", "decided_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    KECAMATAN_FIELD_NUMBER: _ClassVar[int]
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    FIELD_MINIMUMS_FIELD_NUMBER: _ClassVar[int]
    AGENCY_CEILINGS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    GREEDY_TOTAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTENDEES_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    kecamatan_code: str
    kecamatan: str
    cycle_year: int
    budget: int
    field_minimums: _containers.RepeatedCompositeFieldContainer[FieldAmount]
    agency_ceilings: _containers.RepeatedCompositeFieldContainer[AgencyAmount]
    total_score: float
    total_cost: int
    status: str
    solver: str
    decisions: _containers.RepeatedCompositeFieldContainer[SelectionDecision]
    greedy_total_score: float
    attendees: int
    decided_at: _timestamp_pb2.Timestamp
    decided_by: str
    def __init__(self, id: _Optional[str] = ..., kecamatan_code: _Optional[str] = ..., kecamatan: _Optional[str] = ..., cycle_year: _Optional[int] = ..., budget: _Optional[int] = ..., field_minimums: _Optional[_Iterable[_Union[FieldAmount, _Mapping]]] = ..., agency_ceilings: _Optional[_Iterable[_Union[AgencyAmount, _Mapping]]] = ..., total_score: _Optional[float] = ..., total_cost: _Optional[int] = ..., status: _Optional[str] = ..., solver: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[SelectionDecision, _Mapping]]] = ..., greedy_total_score: _Optional[float] = ..., attendees: _Optional[int] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ...) -> None: ...

class RunSelectionResponse(_message.Message):
    __slots__ = ("selection",)
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    selection: Selection
    def __init__(self, selection: _Optional[_Union[Selection, _Mapping]] = ...) -> None: ...

class GetSelectionRequest(_message.Message):
    __slots__ = ("kecamatan_code", "cycle_year")
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    kecamatan_code: str
    cycle_year: int
    def __init__(self, kecamatan_code: _Optional[str] = ..., cycle_year: _Optional[int] = ...) -> None: ...

class GetSelectionResponse(_message.Message):
    __slots__ = ("selection",)
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    selection: Selection
    def __init__(self, selection: _Optional[_Union[Selection, _Mapping]] = ...) -> None: ...

class GetMinutesRequest(_message.Message):
    __slots__ = ("kecamatan_code", "cycle_year")
    KECAMATAN_CODE_FIELD_NUMBER: _ClassVar[int]
    CYCLE_YEAR_FIELD_NUMBER: _ClassVar[int]
    kecamatan_code: str
    cycle_year: int
    def __init__(self, kecamatan_code: _Optional[str] = ..., cycle_year: _Optional[int] = ...) -> None: ...

class GetMinutesResponse(_message.Message):
    __slots__ = ("pdf", "filename")
    PDF_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    pdf: bytes
    filename: str
    def __init__(self, pdf: _Optional[bytes] = ..., filename: _Optional[str] = ...) -> None: ...

class WatchProposalRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchProposalResponse(_message.Message):
    __slots__ = ("proposal", "change")
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    change: str
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ..., change: _Optional[str] = ...) -> None: ...
