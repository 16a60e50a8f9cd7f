"""The `ngsildclient` package (0.5.2, written for Orion-LD) subscribing to Charter, unchanged.

It pins httpx 0.23 and rich 12, older than Charter's own, so it runs in a virtual
environment of its own (made once under ``~/.cache/charter-interop``, from PyPI; skipped
where PyPI cannot be reached, and a failure under CI), as a separate program talking HTTP
to `charter serve`: ``interop/ngsildclient_subscriber.py``. Its notifications go to a
real receiver on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.auth import Role
from charter.bootstrap import build
from charter.settings import Settings
from tests.ngsild.test_subscriptions import Receiver
from tests.services import free_port, need, wait_port

SCRIPT = Path(__file__).parent / "interop" / "ngsildclient_subscriber.py"
VERSION = "0.5.2"


def _client_python() -> Path:
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    env = home / "charter-interop" / f"ngsildclient-{VERSION}"
    python = env / "bin" / "python"
    ready = env / "installed"  # written last: a half-made environment is made again
    if ready.exists():
        return python
    venv.create(env, with_pip=True, clear=True)
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"ngsildclient=={VERSION}"],
            capture_output=True, timeout=300,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        need(False, f"ngsildclient {VERSION} could not be installed from PyPI in time")
    if done.returncode != 0:
        need(False, f"ngsildclient {VERSION} could not be installed from PyPI")
    ready.write_text(VERSION)
    return python


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.slow
def test_ngsildclient_subscribes_updates_and_deletes_unchanged(
    tmp_path: Path, receiver: Receiver
) -> None:
    python = _client_python()
    data = tmp_path / "data"
    platform = build(Settings(data_dir=data))
    token = platform.security.issuer.issue("ngsildclient-app", Role.OPERATOR)
    platform.close()
    port = free_port()
    env = {**os.environ, "CHARTER_DATA_DIR": str(data), "CHARTER_PORT": str(port),
           "CHARTER_NGSILD_NOTIFY_HOSTS": f"127.0.0.1:{receiver.port}"}  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "charter.cli", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(port, timeout=60)
        run = subprocess.run(
            [str(python), str(SCRIPT), str(port), token, receiver.url],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        assert seen["created"] == "urn:ngsi-ld:Subscription:ngsildclient"
        assert seen["retrieved_NO2"] == 22 and seen["updated"] is True
        assert seen["trigger"] == ["attributeUpdated", "entityDeleted"]
        assert seen["listed"] == ["urn:ngsi-ld:Subscription:ngsildclient"] and seen["left"] == []
        notes = [receiver.got.get(timeout=15)[1] for _ in range(2)]
        assert receiver.got.empty()
        update, deletion = sorted(notes, key=lambda n: "deletedAt" in n["data"][0])
        no2 = update["data"][0]["NO2"]
        assert (no2["value"], no2["previousValue"]) == (35, 22)
        gone = deletion["data"][0]
        assert gone["id"] == "urn:ngsi-ld:AirQualityStation:Bordeaux-Test"
        assert gone["type"] == "AirQualityStation" and "deletedAt" in gone
        # its subscription asked for application/ld+json: the context it sent, in the body
        assert update["@context"] == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
