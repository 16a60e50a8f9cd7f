"""Fuzz the HTTP API from its own OpenAPI document (schemathesis), a bounded run in CI.

Every operation is called with generated requests, authorised as an operator
(so the fuzzer reaches past the role checks); every response must pass
schemathesis' checks: no server error, a documented status and content type, a
body that matches the documented schema.

(schemathesis' pytest plugin does not run under pytest 9 yet, so the
operations are driven through its Python API with hypothesis directly.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from charter.api.app import create_app
from charter.auth import Role, issue_token
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.settings import Settings
from tests.conftest import START, SampleCity

MAX_EXAMPLES = 10
# Not checked: that every schema-valid request is accepted. Charter's rules go beyond what
# JSON Schema says (a URN of the right kind, a vendor that exists, a status transition
# that is allowed, a signature that verifies); those answers are documented problems.
EXCLUDED = [checks.positive_data_acceptance]


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Platform, Any]]:
    p = build(Settings(data_dir=tmp_path / "fuzz", token_burst=100_000), clock=FixedClock(START))
    SampleCity(p)
    yield p, schemathesis.openapi.from_asgi("/openapi.json", create_app(p))
    p.close()


def test_the_api_survives_generated_requests(fuzzed: tuple[Platform, Any]) -> None:
    platform, schema = fuzzed
    token = issue_token(platform.store, platform.clock, "fuzzer", Role.OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect all findings, then fail
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


# Regression tests for what the fuzzer found (all were gaps in the OpenAPI document:
# answers the API gave that its document did not declare).


def test_every_operation_documents_its_problems(fuzzed: tuple[Platform, Any]) -> None:
    platform, _ = fuzzed
    doc = create_app(platform).openapi()
    for path, ops in doc["paths"].items():
        if path in ("/health", "/metrics"):
            continue
        for method, op in ops.items():
            for status in ("401", "403", "404", "422", "429"):
                content = op["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)


def test_metrics_is_documented_as_text_and_ingest_as_a_signed_envelope(
    fuzzed: tuple[Platform, Any],
) -> None:
    platform, _ = fuzzed
    doc = create_app(platform).openapi()
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    body = doc["paths"]["/ingest"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["envelope", "sig"]
