"""Settings that cannot work together are refused at start-up, naming the setting."""

import pytest
from pydantic import ValidationError

from kota_musrenbang.config import MusrenbangSettings


def test_the_relay_process_needs_a_database_it_can_open_too():
    for in_memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ValidationError, match="outbox_relay=process"):
            MusrenbangSettings(database_url=in_memory)
        assert MusrenbangSettings(database_url=in_memory, outbox_relay="thread").outbox_relay == "thread"
    assert MusrenbangSettings(database_url="sqlite:///var/musrenbang.db").outbox_relay == "process"
