"""The opendata service, typed: the catalogue, the datastore and exports (read side)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc
from kota_gateway.adapters.backends import Backend


class OpenDataClient:
    name = "opendata"

    def __init__(self, address: str, timeout: float, retries: int):
        self._backend = Backend(self.name, address, opendata_pb2_grpc.OpenDataServiceStub, timeout, retries)
        self._stub: opendata_pb2_grpc.OpenDataServiceStub = self._backend.stub

    async def _read(self, rpc, request):
        return await self._backend.unary(rpc, request, safe=True)

    async def list_datasets(self, *, limit: int, offset: int) -> Sequence[str]:
        return (await self._read(self._stub.ListDatasets, pb.ListDatasetsRequest(limit=limit, offset=offset))).names

    async def search_datasets(self, request: pb.SearchDatasetsRequest) -> pb.SearchDatasetsResponse:
        return await self._read(self._stub.SearchDatasets, request)

    async def get_dataset(self, dataset_id: str) -> pb.Dataset:
        return (await self._read(self._stub.GetDataset, pb.GetDatasetRequest(id=dataset_id))).dataset

    async def list_organizations(self, *, sort: str, limit: int, offset: int) -> Sequence[pb.Organization]:
        request = pb.ListOrganizationsRequest(sort=sort, limit=limit, offset=offset)
        return (await self._read(self._stub.ListOrganizations, request)).organizations

    async def get_organization(self, organization_id: str, *, include_datasets: bool) -> pb.GetOrganizationResponse:
        request = pb.GetOrganizationRequest(id=organization_id, include_datasets=include_datasets)
        return await self._read(self._stub.GetOrganization, request)

    async def list_groups(self) -> Sequence[pb.Group]:
        return (await self._read(self._stub.ListGroups, pb.ListGroupsRequest())).groups

    async def list_tags(self, query: str) -> Sequence[str]:
        return (await self._read(self._stub.ListTags, pb.ListTagsRequest(query=query))).tags

    async def get_resource(self, resource_id: str) -> pb.Resource:
        return (await self._read(self._stub.GetResource, pb.GetResourceRequest(id=resource_id))).resource

    async def query_records(self, request: pb.QueryRecordsRequest) -> pb.QueryRecordsResponse:
        return await self._read(self._stub.QueryRecords, request)

    async def search_sql(self, sql: str) -> pb.SearchSqlResponse:
        return await self._read(self._stub.SearchSql, pb.SearchSqlRequest(sql=sql))

    async def autocomplete(self, q: str, limit: int) -> Sequence[pb.DatasetMatch]:
        request = pb.AutocompleteDatasetsRequest(q=q, limit=limit)
        return (await self._read(self._stub.AutocompleteDatasets, request)).matches

    async def list_licenses(self) -> Sequence[pb.License]:
        return (await self._read(self._stub.ListLicenses, pb.ListLicensesRequest())).licenses

    async def dataset_activity(self, dataset_id: str, *, offset: int, limit: int) -> Sequence[pb.Activity]:
        request = pb.ListDatasetActivityRequest(id=dataset_id, offset=offset, limit=limit)
        return (await self._read(self._stub.ListDatasetActivity, request)).activities

    async def get_status(self) -> pb.GetStatusResponse:
        return await self._read(self._stub.GetStatus, pb.GetStatusRequest())

    async def get_catalog(self, base_url: str) -> str:
        """The catalogue as DCAT JSON-LD, its links under `base_url`."""
        return (await self._read(self._stub.GetCatalog, pb.GetCatalogRequest(base_url=base_url))).jsonld

    def export_dataset(self, dataset_id: str, fmt: pb.ExportFormat) -> AsyncIterator[pb.ExportDatasetResponse]:
        """The dataset's file in chunks (the first carries its filename and content type)."""
        return self._backend.stream(self._stub.ExportDataset, pb.ExportDatasetRequest(id=dataset_id, format=fmt))

    async def healthy(self) -> bool:
        return await self._backend.healthy()

    async def close(self) -> None:
        await self._backend.close()
