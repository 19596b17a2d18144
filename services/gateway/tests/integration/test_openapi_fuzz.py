"""Property test of the OpenAPI surface: schemathesis generates valid and invalid requests for every operation
of /openapi.json (Open311, the portal's API, staff endpoints with and without a token, CKAN, SensorThings,
GTFS-rt), with every service up; none may answer 5xx."""

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

pytestmark = pytest.mark.integration

# streams never end by themselves: they are tested in test_portal_api
SKIP = ("/events",)
# fuzzed in test_musrenbang.py and test_collab.py, against a gateway whose musrenbang or collab service is up
ELSEWHERE = ("/api/v1/musrenbang/", "/api/v1/collab/")
EXAMPLES = 25


def operations(base_url: str):
    import schemathesis

    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.endswith(SKIP) and not op.path.startswith(ELSEWHERE):
            yield op


def make_check(op, mode: str, base_url: str, session: requests.Session, token: str):
    from schemathesis import GenerationMode

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(GenerationMode(mode)))
    def check(case):
        headers = {"authorization": f"Bearer {token}"} if "/staff/" in op.path and mode == "positive" else None
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"

    return check


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_anywhere(full_stack, staff_token, mode):
    stack = full_stack
    session = requests.Session()
    token = staff_token("DSDA")
    seen: list[str] = []
    for op in operations(stack.base_url):
        seen.append(op.label)
        try:
            make_check(op, mode, stack.base_url, session, token)()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
            continue
    for part in ("open311", "/api/v1/staff", "/api/3/action", "/sta/v1.1", "/gtfs-rt"):
        assert any(part in label for label in seen), part
