"""Property-based requests generated from the OpenAPI schema: whatever arrives, no 5xx."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.serving.helpers import API_KEY

from adloom.serving.app import create_app
from adloom.serving.engine import AdServer


def test_no_server_errors_on_any_generated_request(server: AdServer) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(server=server))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    failures: list[str] = []
    checked: list[str] = []

    def fuzz(operation: Any) -> None:
        @settings(
            max_examples=20,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(data=st.data())
        def run(data: Any) -> None:
            case = data.draw(operation.as_strategy())
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()

    for result in schema.get_all_operations():
        operation = result.ok()
        checked.append(operation.label)
        fuzz(operation)
    assert len(checked) >= 10, checked
    assert not failures, failures[:5]
