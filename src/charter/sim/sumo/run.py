"""One SUMO simulation (libsumo) with the safety invariant watched at every step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.sim.sumo.network import read_net, sumo_args
from charter.sim.sumo.safety import SafetyMonitor, SignalRules, rules_from_net


def signal_rules(net_file: Path) -> dict[str, SignalRules]:
    """Every programmed signal of the network, with its safety rules."""
    net = read_net(net_file)
    return {
        t.getID(): rules_from_net(net, t.getID()) for t in net.getTrafficLights() if t.getPrograms()
    }


@dataclass
class Simulation:
    """A running libsumo simulation; `step()` advances it and checks every signal."""

    traci: Any  # the libsumo module
    monitor: SafetyMonitor
    step_s: float

    @property
    def time_s(self) -> float:
        return float(self.traci.simulation.getTime())

    def step(self) -> None:
        self.traci.simulationStep()
        self.check()

    def check(self) -> None:
        t = self.time_s
        tl = self.traci.trafficlight
        for tls in self.monitor.rules:
            self.monitor.observe(tls, tl.getRedYellowGreenState(tls), t)


@contextmanager
def simulation(
    net_file: Path,
    routes: list[Path],
    *,
    step_s: float = 0.5,
    seed: int = 1,
    end_s: float = 3600,
    rules: dict[str, SignalRules] | None = None,
    additional: list[Path] | None = None,
    tripinfo: Path | None = None,
    load_routes_whole: bool = False,
) -> Iterator[Simulation]:
    import libsumo

    rules = rules if rules is not None else signal_rules(net_file)
    args = sumo_args(
        net_file,
        routes,
        step_s=step_s,
        seed=seed,
        end_s=end_s,
        additional=additional,
        tripinfo=tripinfo,
        load_routes_whole=load_routes_whole,
    )
    libsumo.start(args)
    try:
        sim = Simulation(libsumo, SafetyMonitor(rules, tolerance_s=step_s * 1.01), step_s)
        sim.check()
        yield sim
    finally:
        libsumo.close()
