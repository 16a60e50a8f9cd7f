"""Every `charter` command turns bad input into a reason code and a non-zero exit.

No traceback (which would show local variables: tokens, identifiers) and no
personal data in what is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.bootstrap import build
from charter.cli import app
from charter.settings import Settings
from charter.sim import city as sample

EMAIL = "alice.resident@example.org"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "d"
    platform = build(Settings(data_dir=path))
    sample.seed(platform.registry, 5)
    platform.close()
    return str(path)


BAD = [
    pytest.param(
        ["quarantine", "replay", "999", "--why", "x"], 1, "NOT_FOUND", id="replay-unknown"
    ),
    pytest.param(["quarantine", "replay", str(10**20), "--why", "x"], 2, None, id="replay-huge-id"),
    pytest.param(["quarantine", "list", "--limit", "-5"], 2, None, id="list-negative-limit"),
    pytest.param(
        ["report", "transparency", "--out", "/nonexistent-dir/r.html"], 2, None, id="unwritable"
    ),
    pytest.param(["resident", "link", EMAIL, "--identifier", "FOB-1234"], 1, None, id="link"),
    pytest.param(["resident", "export", EMAIL], 1, None, id="export-unknown"),
    pytest.param(["consent", "withdraw", EMAIL, "c1"], 1, None, id="withdraw-unknown"),
    pytest.param(
        [
            "consent",
            "grant",
            EMAIL,
            "--category",
            "x",
            "--purpose",
            "y",
            "--project",
            "p",
            "--days",
            str(10**20),
        ],
        2,
        None,
        id="consent-days-overflow",
    ),
    pytest.param(["grant", "approve", EMAIL, "--why", "x"], 1, "NOT_FOUND", id="approve-unknown"),
    pytest.param(["grant", "revoke", EMAIL, "--why", "x"], 1, "NOT_FOUND", id="revoke-unknown"),
]


@pytest.mark.parametrize(("args", "code", "reason"), BAD)
def test_bad_input_is_a_reason_and_a_non_zero_exit_never_a_traceback(
    data: str, args: list[str], code: int, reason: str | None
) -> None:
    result = CliRunner().invoke(app, [*args, "--data-dir", data])
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if reason is not None:
        assert reason in result.output
    assert EMAIL not in result.output


def test_an_invalid_setting_names_the_setting_not_its_value(data: str) -> None:
    secret = "postgresql-password-in-the-wrong-place"
    result = CliRunner().invoke(
        app,
        ["ledger", "checkpoint", "--data-dir", data],
        env={"CHARTER_MAX_REQUEST_BYTES": secret},
    )
    assert result.exit_code == 2, result.output
    assert "VALIDATION_FAILED" in result.output and "max_request_bytes" in result.output
    assert secret not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["alerts", "withdraw", "--help"], ["services", "list", "--json", "--data-dir", "data"]],
    ids=["rich help", "plain print"],
)
def test_a_closed_pipe_stops_the_command_quietly(tmp_path: Path, args: list[str]) -> None:
    """`charter … | head`: the reader has gone; no reason code, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from charter.cli import app; app()", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")
