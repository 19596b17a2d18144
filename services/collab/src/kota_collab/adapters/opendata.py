"""This city's open data service, read on a partner's behalf (kota.opendata.v1 over gRPC, inside the city)."""

from __future__ import annotations

import grpc

from kota.opendata.v1 import opendata_pb2 as od
from kota.opendata.v1 import opendata_pb2_grpc as od_grpc
from kota_common.errors import InvalidArgument, NotFound, ServiceError


class OpenDataUnavailable(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class OpenDataClient:
    def __init__(self, address: str, timeout_s: float = 10.0):
        self.channel = grpc.insecure_channel(address)
        self.stub = od_grpc.OpenDataServiceStub(self.channel)
        self.timeout_s = timeout_s

    def get_dataset(self, name: str) -> od.Dataset:
        return self._call(lambda: self.stub.GetDataset(od.GetDatasetRequest(id=name), timeout=self.timeout_s).dataset)

    def query(self, query: od.QueryRecordsRequest) -> od.QueryRecordsResponse:
        return self._call(lambda: self.stub.QueryRecords(query, timeout=self.timeout_s))

    @staticmethod
    def _call(call):
        try:
            return call()
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"open data: {details}", [("dataset_id", "not found")]) from None
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(f"open data: {details}", [("query", details or "invalid")]) from None
            raise OpenDataUnavailable(f"this city's open data service did not answer ({code.name})") from None

    def upload_csv(self, name: str, title: str, notes: str, csv: bytes, token: str) -> int:
        """Publishes a CSV as a dataset (a new version when it exists); the version."""
        request = od.UploadDatasetRequest(name=name, title=title, notes=notes, csv=csv, license_id="cc-by-4.0",
                                          tags=["kerja-sama"], version_note="kota collab")
        answer = self._call(lambda: self.stub.UploadDataset(request, metadata=[("authorization", f"Bearer {token}")],
                                                            timeout=self.timeout_s))
        return answer.version

    def close(self) -> None:
        self.channel.close()
