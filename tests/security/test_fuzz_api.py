"""Fuzz the HTTP API from its own OpenAPI document (schemathesis), a bounded run in CI.

Every operation is called with generated requests, valid ones (positive mode)
and invalid ones (negative mode: wrong types, values out of range, unknown
fields, missing parts), authorised as an operator (so the fuzzer reaches past
the role checks) and anonymously (as the public calls the public routes).
Every response must pass schemathesis' checks (no server error, a documented
status and content type, a body that matches the documented schema, invalid
data refused) and Charter's own: every 4xx is an application/problem+json
naming a reason code, and no 4xx carries back a name or value that was sent.

(schemathesis' pytest plugin does not run under pytest 9 yet, so the
operations are driven through its Python API with hypothesis directly.)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

import charter
from charter.api.app import create_app
from charter.api.problems import declared_names
from charter.auth import Role, issue_token
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.reasons import Reason
from charter.settings import Settings
from tests.conftest import START, SampleCity

MAX_EXAMPLES = 10
# Not checked: that every schema-valid request is accepted. Charter's rules go beyond what
# JSON Schema says (a URN of the right kind, a vendor that exists, a status transition
# that is allowed, a signature that verifies); those answers are documented problems.
EXCLUDED = [checks.positive_data_acceptance]
# Invalid data must be refused with some 4xx; 413 (too large) is as good a refusal as 422.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["4XX"]}}}
)


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Platform, Any]]:
    p = build(Settings(data_dir=tmp_path / "fuzz", token_burst=100_000), clock=FixedClock(START))
    SampleCity(p)
    yield p, schemathesis.openapi.from_asgi("/openapi.json", create_app(p), config=CONFIG)
    p.close()


# Shorter strings are too often a word of Charter's own messages ("project", "status").
ECHO_MIN = 8


def _sent(case: Any) -> set[str]:
    """Every string the caller chose: path, query, header values, body keys and values."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            found.add(value)

    walk(case.path_parameters)
    walk(case.query)
    walk({k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"})
    walk(case.body if isinstance(case.body, dict | list) else None)
    return found


def _strings(value: Any) -> Iterator[str]:
    """The values of a problem; its keys are Charter's own ("admitted", "errors")."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@schemathesis.check
def problem_with_a_reason_and_no_echo(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is a problem (RFC 9457) with a reason code, and echoes nothing that was sent."""
    if not 400 <= response.status_code < 500:
        return None
    assert response.headers["content-type"][0].startswith("application/problem+json"), (
        f"{response.status_code} without problem+json"
    )
    body = response.json()
    assert body.get("reason") in {r.value for r in Reason}, f"no reason code: {body}"
    # The type and title are fixed per reason code; what could echo is everything else.
    said = list(_strings({k: v for k, v in body.items() if k not in ("type", "title")}))
    names = declared_names(case.operation.schema.app)
    for sent in _sent(case):
        if (
            len(sent) >= ECHO_MIN
            and sent not in names
            and sent not in ALLOWED_ECHOES
            and sent not in source_words()
        ):
            assert not any(sent in text for text in said), f"echoed {sent!r}: {body}"
    return None


@functools.cache
def source_words() -> frozenset[str]:
    """Every word in Charter's own source. Hypothesis draws strings from the code's
    constants, so a request may carry "register" and meet it in a fixed sentence
    ("nothing by that id is on the register"): that is not an echo of the request."""
    root = Path(charter.__file__).parent
    return frozenset(w for f in root.rglob("*.py") for w in re.findall(r"[A-Za-z]+", f.read_text()))


# The token's own purposes (check_purpose) are named back to their holder: they are the
# token's, not something the request carried; the fixture's are none.
ALLOWED_ECHOES: frozenset[str] = frozenset()


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers,
            excluded_checks=EXCLUDED,
            additional_checks=[problem_with_a_reason_and_no_echo],
        )

    try:
        run()
    except Unsatisfiable:
        # Negative mode needs something that can be invalid: an operation without any
        # parameter or body (GET /stats) has no invalid request to make.
        if mode is not GenerationMode.NEGATIVE:
            raise


# Anonymous callers get the invalid requests only: every valid one of a public route is
# already made by the operator's run, and the role checks refuse the rest.
@pytest.mark.parametrize(
    ("caller", "mode"),
    [
        ("operator", GenerationMode.POSITIVE),
        ("operator", GenerationMode.NEGATIVE),
        ("anonymous", GenerationMode.NEGATIVE),
    ],
)
def test_the_api_survives_generated_requests(
    fuzzed: tuple[Platform, Any], mode: GenerationMode, caller: str
) -> None:
    platform, schema = fuzzed
    headers: dict[str, str] = {}
    if caller == "operator":
        token = issue_token(platform.store, platform.clock, "fuzzer", Role.OPERATOR)
        headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    # NGSI-LD answers with the spec's own ProblemDetails and statuses (tests/ngsild/).
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if not op.path.startswith("/ngsi-ld/")
    ]
    assert len(operations) > 20

    for operation in operations:
        try:
            _run(operation, mode, headers)
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
        if path.startswith("/ngsi-ld/"):
            continue  # NGSI-LD answers with its own ProblemDetails (docs/ngsi-ld.md)
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
