"""The complaints service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_common.registration import ServiceSpec
from kota_complaints import demo
from kota_complaints.config import ComplaintsSettings

SERVICE = ServiceSpec("complaints", ComplaintsSettings, start_order=10, demo=demo.seed)
