"""The musrenbang service's entry in the platform (entry point `kota.services`): how `kota up` runs it."""

from kota_common.registration import ServiceSpec
from kota_musrenbang import demo
from kota_musrenbang.config import MusrenbangSettings

SERVICE = ServiceSpec("musrenbang", MusrenbangSettings, start_order=40, demo=demo.seed)
