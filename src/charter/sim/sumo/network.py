"""Where SUMO and its networks are, and the background traffic over them."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason


@cache
def sumo_home() -> Path:
    """SUMO's installation (the eclipse-sumo wheel), or a clear error without it."""
    try:
        import sumo
    except ImportError:
        raise CharterError(
            Reason.SIMULATOR_MISSING,
            "SUMO is not installed: pip install -e '.[sim]' (eclipse-sumo, libsumo)",
        ) from None
    return Path(sumo.SUMO_HOME)


def default_net() -> Path:
    """Berlin-Adlershof (SUMO's game/DRT scenario): a real street network with signals."""
    return sumo_home() / "tools" / "game" / "DRT" / "osm.net.xml"


def read_net(path: Path) -> Any:
    """The network with its signal programs and junction foe matrices (sumolib)."""
    import sumolib

    return sumolib.net.readNet(str(path), withPrograms=True, withInternal=True)


def random_trips(
    net: Path, out: Path, *, period_s: float, end_s: float, seed: int, min_distance_m: float = 500
) -> Path:
    """Background demand by SUMO's own randomTrips.py (routed, so every trip is drivable)."""
    tool = sumo_home() / "tools" / "randomTrips.py"
    env = {**os.environ, "SUMO_HOME": str(sumo_home())}
    argv = [
        sys.executable,
        str(tool),
        "-n", str(net),
        "-r", str(out),
        "-o", str(out.with_suffix(".trips.xml")),
        "-p", str(period_s),
        "-e", str(end_s),
        "--seed", str(seed),
        "--fringe-factor", "5",
        "--min-distance", str(min_distance_m),
        "--validate",
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, env=env, timeout=300)  # noqa: S603
    return out


def background(
    net: Path,
    out: Path,
    *,
    routes: Path | None,
    period_s: float,
    end_s: float,
    seed: int,
) -> Path:
    """The background demand: the given routes file as it is, or randomTrips.py's."""
    if routes is None:
        return random_trips(net, out, period_s=period_s, end_s=end_s, seed=seed)
    if not routes.is_file():
        raise CharterError(Reason.NOT_FOUND, f"no routes file at {routes}")
    return routes


def sumo_args(
    net: Path,
    routes: list[Path],
    *,
    step_s: float,
    seed: int,
    end_s: float,
    additional: list[Path] | None = None,
    tripinfo: Path | None = None,
    load_routes_whole: bool = False,
) -> list[str]:
    """Command line for libsumo: signals on (DRT's own config switches them off), no bluelight.
    `load_routes_whole`: read the routes files at the start, not in steps as the simulation
    goes (forked twins share the parent's open files: read in steps, one twin's read moves
    the others' place in the file)."""
    extra = ["-a", ",".join(str(a) for a in additional)] if additional else []
    if load_routes_whole:
        extra += ["--route-steps", "0"]
    if tripinfo is not None:
        extra += ["--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished"]
    return [
        "sumo",
        "-n", str(net),
        "-r", ",".join(str(r) for r in routes),
        "--step-length", str(step_s),
        "--seed", str(seed),
        "--end", str(end_s),
        "--no-step-log", "true",
        "--no-warnings", "true",
        "--time-to-teleport", "300",
        "--tls.all-off", "false",
        *extra,
    ]  # fmt: skip
