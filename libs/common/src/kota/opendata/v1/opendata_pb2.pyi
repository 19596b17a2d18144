import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]
    EXPORT_FORMAT_GEOJSON: _ClassVar[ExportFormat]

class DatasetChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_CHANGE_UNSPECIFIED: _ClassVar[DatasetChange]
    DATASET_CHANGE_CREATED: _ClassVar[DatasetChange]
    DATASET_CHANGE_VERSION_PUBLISHED: _ClassVar[DatasetChange]
    DATASET_CHANGE_RECORDS_CHANGED: _ClassVar[DatasetChange]
    DATASET_CHANGE_METADATA_CHANGED: _ClassVar[DatasetChange]
    DATASET_CHANGE_CURRENT: _ClassVar[DatasetChange]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_GEOJSON: ExportFormat
DATASET_CHANGE_UNSPECIFIED: DatasetChange
DATASET_CHANGE_CREATED: DatasetChange
DATASET_CHANGE_VERSION_PUBLISHED: DatasetChange
DATASET_CHANGE_RECORDS_CHANGED: DatasetChange
DATASET_CHANGE_METADATA_CHANGED: DatasetChange
DATASET_CHANGE_CURRENT: DatasetChange

class Organization(_message.Message):
    __slots__ = ("id", "name", "title", "description", "image_url", "package_count", "created")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    title: str
    description: str
    image_url: str
    package_count: int
    created: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., image_url: _Optional[str] = ..., package_count: _Optional[int] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("id", "name", "title", "description", "package_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    title: str
    description: str
    package_count: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., package_count: _Optional[int] = ...) -> None: ...

class DataField(_message.Message):
    __slots__ = ("id", "type", "label", "notes")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    label: str
    notes: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., label: _Optional[str] = ..., notes: _Optional[str] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("id", "package_id", "name", "description", "format", "mimetype", "url", "datastore_active", "created", "last_modified", "export_format")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MIMETYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DATASTORE_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    id: str
    package_id: str
    name: str
    description: str
    format: str
    mimetype: str
    url: str
    datastore_active: bool
    created: _timestamp_pb2.Timestamp
    last_modified: _timestamp_pb2.Timestamp
    export_format: ExportFormat
    def __init__(self, id: _Optional[str] = ..., package_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., format: _Optional[str] = ..., mimetype: _Optional[str] = ..., url: _Optional[str] = ..., datastore_active: _Optional[bool] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_modified: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., export_format: _Optional[_Union[ExportFormat, str]] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("number", "created", "record_count", "rejected_count", "actor", "note")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    number: int
    created: _timestamp_pb2.Timestamp
    record_count: int
    rejected_count: int
    actor: str
    note: str
    def __init__(self, number: _Optional[int] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., actor: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("id", "name", "title", "notes", "organization", "tags", "groups", "license_id", "license_title", "license_url", "temporal_start", "temporal_end", "spatial", "frequency", "version", "versions", "resources", "fields", "record_count", "metadata_created", "metadata_modified", "source", "maintainer", "state", "extras")
    class ExtrasEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    LICENSE_ID_FIELD_NUMBER: _ClassVar[int]
    LICENSE_TITLE_FIELD_NUMBER: _ClassVar[int]
    LICENSE_URL_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_START_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_END_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    METADATA_CREATED_FIELD_NUMBER: _ClassVar[int]
    METADATA_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAINTAINER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    title: str
    notes: str
    organization: Organization
    tags: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    license_id: str
    license_title: str
    license_url: str
    temporal_start: _timestamp_pb2.Timestamp
    temporal_end: _timestamp_pb2.Timestamp
    spatial: str
    frequency: str
    version: str
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    fields: _containers.RepeatedCompositeFieldContainer[DataField]
    record_count: int
    metadata_created: _timestamp_pb2.Timestamp
    metadata_modified: _timestamp_pb2.Timestamp
    source: str
    maintainer: str
    state: str
    extras: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., notes: _Optional[str] = ..., organization: _Optional[_Union[Organization, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., license_id: _Optional[str] = ..., license_title: _Optional[str] = ..., license_url: _Optional[str] = ..., temporal_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., temporal_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spatial: _Optional[str] = ..., frequency: _Optional[str] = ..., version: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., fields: _Optional[_Iterable[_Union[DataField, _Mapping]]] = ..., record_count: _Optional[int] = ..., metadata_created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata_modified: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ..., maintainer: _Optional[str] = ..., state: _Optional[str] = ..., extras: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("limit", "offset")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    limit: int
    offset: int
    def __init__(self, limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchDatasetsRequest(_message.Message):
    __slots__ = ("q", "fq", "sort", "rows", "start", "facet_fields", "facet_limit")
    Q_FIELD_NUMBER: _ClassVar[int]
    FQ_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    FACET_FIELDS_FIELD_NUMBER: _ClassVar[int]
    FACET_LIMIT_FIELD_NUMBER: _ClassVar[int]
    q: str
    fq: str
    sort: str
    rows: int
    start: int
    facet_fields: _containers.RepeatedScalarFieldContainer[str]
    facet_limit: int
    def __init__(self, q: _Optional[str] = ..., fq: _Optional[str] = ..., sort: _Optional[str] = ..., rows: _Optional[int] = ..., start: _Optional[int] = ..., facet_fields: _Optional[_Iterable[str]] = ..., facet_limit: _Optional[int] = ...) -> None: ...

class FacetItem(_message.Message):
    __slots__ = ("name", "display_name", "count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    count: int
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Facet(_message.Message):
    __slots__ = ("field", "title", "items")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    field: str
    title: str
    items: _containers.RepeatedCompositeFieldContainer[FacetItem]
    def __init__(self, field: _Optional[str] = ..., title: _Optional[str] = ..., items: _Optional[_Iterable[_Union[FacetItem, _Mapping]]] = ...) -> None: ...

class SearchDatasetsResponse(_message.Message):
    __slots__ = ("count", "results", "facets")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    count: int
    results: _containers.RepeatedCompositeFieldContainer[Dataset]
    facets: _containers.RepeatedCompositeFieldContainer[Facet]
    def __init__(self, count: _Optional[int] = ..., results: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., facets: _Optional[_Iterable[_Union[Facet, _Mapping]]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class ListOrganizationsRequest(_message.Message):
    __slots__ = ("sort", "limit", "offset")
    SORT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    sort: str
    limit: int
    offset: int
    def __init__(self, sort: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListOrganizationsResponse(_message.Message):
    __slots__ = ("organizations",)
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    def __init__(self, organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ...) -> None: ...

class GetOrganizationRequest(_message.Message):
    __slots__ = ("id", "include_datasets")
    ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DATASETS_FIELD_NUMBER: _ClassVar[int]
    id: str
    include_datasets: bool
    def __init__(self, id: _Optional[str] = ..., include_datasets: _Optional[bool] = ...) -> None: ...

class GetOrganizationResponse(_message.Message):
    __slots__ = ("organization", "datasets")
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    organization: Organization
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    def __init__(self, organization: _Optional[_Union[Organization, _Mapping]] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: str
    def __init__(self, query: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetResourceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetResourceResponse(_message.Message):
    __slots__ = ("resource",)
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: Resource
    def __init__(self, resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class QueryRecordsRequest(_message.Message):
    __slots__ = ("resource_id", "filters", "q", "sort", "limit", "offset", "fields", "include_total", "version", "q_fields")
    class QFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    Q_FIELDS_FIELD_NUMBER: _ClassVar[int]
    resource_id: str
    filters: _struct_pb2.Struct
    q: str
    sort: str
    limit: int
    offset: int
    fields: _containers.RepeatedScalarFieldContainer[str]
    include_total: bool
    version: int
    q_fields: _containers.ScalarMap[str, str]
    def __init__(self, resource_id: _Optional[str] = ..., filters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., q: _Optional[str] = ..., sort: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., fields: _Optional[_Iterable[str]] = ..., include_total: _Optional[bool] = ..., version: _Optional[int] = ..., q_fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class QueryRecordsResponse(_message.Message):
    __slots__ = ("resource_id", "fields", "records_json", "total", "limit", "offset")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    resource_id: str
    fields: _containers.RepeatedCompositeFieldContainer[DataField]
    records_json: str
    total: int
    limit: int
    offset: int
    def __init__(self, resource_id: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[DataField, _Mapping]]] = ..., records_json: _Optional[str] = ..., total: _Optional[int] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class SearchSqlRequest(_message.Message):
    __slots__ = ("sql",)
    SQL_FIELD_NUMBER: _ClassVar[int]
    sql: str
    def __init__(self, sql: _Optional[str] = ...) -> None: ...

class SearchSqlResponse(_message.Message):
    __slots__ = ("fields", "records_json", "records_truncated")
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    RECORDS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[DataField]
    records_json: str
    records_truncated: bool
    def __init__(self, fields: _Optional[_Iterable[_Union[DataField, _Mapping]]] = ..., records_json: _Optional[str] = ..., records_truncated: _Optional[bool] = ...) -> None: ...

class AutocompleteDatasetsRequest(_message.Message):
    __slots__ = ("q", "limit")
    Q_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    q: str
    limit: int
    def __init__(self, q: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class DatasetMatch(_message.Message):
    __slots__ = ("name", "title", "match_field")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    match_field: str
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., match_field: _Optional[str] = ...) -> None: ...

class AutocompleteDatasetsResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[DatasetMatch]
    def __init__(self, matches: _Optional[_Iterable[_Union[DatasetMatch, _Mapping]]] = ...) -> None: ...

class ListLicensesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class License(_message.Message):
    __slots__ = ("id", "title", "url", "open")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    url: str
    open: bool
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., url: _Optional[str] = ..., open: _Optional[bool] = ...) -> None: ...

class ListLicensesResponse(_message.Message):
    __slots__ = ("licenses",)
    LICENSES_FIELD_NUMBER: _ClassVar[int]
    licenses: _containers.RepeatedCompositeFieldContainer[License]
    def __init__(self, licenses: _Optional[_Iterable[_Union[License, _Mapping]]] = ...) -> None: ...

class ListDatasetActivityRequest(_message.Message):
    __slots__ = ("id", "offset", "limit")
    ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    offset: int
    limit: int
    def __init__(self, id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class Activity(_message.Message):
    __slots__ = ("id", "dataset_id", "activity_type", "timestamp", "version", "record_count", "changes", "actor", "note", "event_type")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    dataset_id: str
    activity_type: str
    timestamp: _timestamp_pb2.Timestamp
    version: int
    record_count: int
    changes: int
    actor: str
    note: str
    event_type: str
    def __init__(self, id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., activity_type: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., record_count: _Optional[int] = ..., changes: _Optional[int] = ..., actor: _Optional[str] = ..., note: _Optional[str] = ..., event_type: _Optional[str] = ...) -> None: ...

class ListDatasetActivityResponse(_message.Message):
    __slots__ = ("activities",)
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    activities: _containers.RepeatedCompositeFieldContainer[Activity]
    def __init__(self, activities: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("ckan_version", "site_title", "site_description", "extensions", "dataset_count", "last_update", "events_applied", "events_dead_lettered")
    CKAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    SITE_TITLE_FIELD_NUMBER: _ClassVar[int]
    SITE_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    DATASET_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_APPLIED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    ckan_version: str
    site_title: str
    site_description: str
    extensions: _containers.RepeatedScalarFieldContainer[str]
    dataset_count: int
    last_update: _timestamp_pb2.Timestamp
    events_applied: int
    events_dead_lettered: int
    def __init__(self, ckan_version: _Optional[str] = ..., site_title: _Optional[str] = ..., site_description: _Optional[str] = ..., extensions: _Optional[_Iterable[str]] = ..., dataset_count: _Optional[int] = ..., last_update: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events_applied: _Optional[int] = ..., events_dead_lettered: _Optional[int] = ...) -> None: ...

class GetCatalogRequest(_message.Message):
    __slots__ = ("base_url",)
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    def __init__(self, base_url: _Optional[str] = ...) -> None: ...

class GetCatalogResponse(_message.Message):
    __slots__ = ("jsonld",)
    JSONLD_FIELD_NUMBER: _ClassVar[int]
    jsonld: str
    def __init__(self, jsonld: _Optional[str] = ...) -> None: ...

class ExportDatasetRequest(_message.Message):
    __slots__ = ("id", "format", "filters", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    format: ExportFormat
    filters: _struct_pb2.Struct
    version: int
    def __init__(self, id: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., filters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ExportDatasetResponse(_message.Message):
    __slots__ = ("content_type", "filename", "chunk")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    filename: str
    chunk: bytes
    def __init__(self, content_type: _Optional[str] = ..., filename: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class WatchDatasetsRequest(_message.Message):
    __slots__ = ("ids", "send_initial")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    send_initial: bool
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., send_initial: _Optional[bool] = ...) -> None: ...

class WatchDatasetsResponse(_message.Message):
    __slots__ = ("dataset_id", "name", "change", "version", "record_count", "at")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    change: DatasetChange
    version: int
    record_count: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., change: _Optional[_Union[DatasetChange, str]] = ..., version: _Optional[int] = ..., record_count: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadField(_message.Message):
    __slots__ = ("id", "type", "label")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    label: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("name", "title", "notes", "organization", "tags", "groups", "license_id", "frequency", "csv", "fields", "validate_only", "version_note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    LICENSE_ID_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    VERSION_NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    notes: str
    organization: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedScalarFieldContainer[str]
    license_id: str
    frequency: str
    csv: bytes
    fields: _containers.RepeatedCompositeFieldContainer[UploadField]
    validate_only: bool
    version_note: str
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., notes: _Optional[str] = ..., organization: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[str]] = ..., license_id: _Optional[str] = ..., frequency: _Optional[str] = ..., csv: _Optional[bytes] = ..., fields: _Optional[_Iterable[_Union[UploadField, _Mapping]]] = ..., validate_only: _Optional[bool] = ..., version_note: _Optional[str] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("row_number", "field", "reason")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    field: str
    reason: str
    def __init__(self, row_number: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UploadDatasetResponse(_message.Message):
    __slots__ = ("dataset", "version", "fields", "accepted_rows", "rejected_rows", "errors")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    version: int
    fields: _containers.RepeatedCompositeFieldContainer[DataField]
    accepted_rows: int
    rejected_rows: int
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., version: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[DataField, _Mapping]]] = ..., accepted_rows: _Optional[int] = ..., rejected_rows: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ...) -> None: ...
