import os

import pytest
from pydantic import ValidationError

from kota_common.settings import CommonSettings


def test_cpu_affinity_names_cpus_of_this_machine():
    assert CommonSettings(cpu_affinity={0}).cpu_affinity == {0}
    with pytest.raises(ValidationError, match="no such CPU"):
        CommonSettings(cpu_affinity={os.cpu_count()})


def test_cpu_affinity_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KOTA_CPU_AFFINITY", "[0]")
    assert CommonSettings().cpu_affinity == {0}
