"""The gateway's entry in the platform (entry point `kota.services`): started after the services it fronts, healthy
when /readyz answers, its address printed as the portal's."""

from kota_common.registration import ServiceSpec
from kota_gateway.config import GatewaySettings

SERVICE = ServiceSpec("gateway", GatewaySettings, start_order=90, address_field="http_address",
                      health_path="/readyz", portal=True)
