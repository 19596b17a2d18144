"""Calls to partner cities' registries over mutual TLS (the client side of FederationService)."""

from __future__ import annotations

import grpc

from kota.collab.v1 import collab_pb2 as pb
from kota.collab.v1 import collab_pb2_grpc as pb_grpc
from kota_collab.adapters import wire
from kota_collab.adapters.tls import TlsFiles, channel_options
from kota_collab.domain.errors import DomainError
from kota_collab.domain.model import City, Partnership


class PartnerUnreachable(Exception):
    """The partner's registry could not be reached or refused the call; the delivery is retried later."""


class GrpcPartnerClient:
    """One channel per partner endpoint, kept open (gRPC reconnects by itself after a lost network)."""

    def __init__(self, files: TlsFiles, timeout_s: float = 5.0):
        self.files = files
        self.timeout_s = timeout_s
        self._channels: dict[tuple[str, str], grpc.Channel] = {}

    def _stub(self, partner: City) -> pb_grpc.FederationServiceStub:
        key = (partner.id, partner.endpoint)
        channel = self._channels.get(key)
        if channel is None:
            channel = grpc.secure_channel(partner.endpoint, self.files.channel_credentials(), options=channel_options(partner.id))
            self._channels[key] = channel
        return pb_grpc.FederationServiceStub(channel)

    def sync(self, partner: City, partnership: Partnership, sender: City) -> Partnership:
        request = pb.SyncPartnershipRequest(partnership=wire.partnership_pb(partnership), sender=wire.city_pb(sender))
        try:
            answer = self._stub(partner).SyncPartnership(request, timeout=self.timeout_s)
            return wire.partnership_from_pb(answer.partnership)
        except grpc.RpcError as exc:
            raise PartnerUnreachable(f"{exc.code().name}: {exc.details()}") from None
        except DomainError as exc:
            raise PartnerUnreachable(f"the partner's answer is not valid: {exc.message}") from None

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
