"""The one place that wires Charter together from a store, a bus, a clock and keys.

Tests build a Platform with their own parts; the CLI builds it from Settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from charter.auth import TokenIssuer
from charter.bus.base import Bus
from charter.bus.memory import InProcessBus
from charter.commands.signer import CommandSigner
from charter.domain.clock import Clock, SystemClock
from charter.domain.trust import TrustPolicy
from charter.gate.authenticate import Window
from charter.gate.decode import Limits
from charter.gate.directory import DeviceDirectory
from charter.gate.pipeline import Gate, GateConfig, GateObserver
from charter.gate.quarantine import Quarantine
from charter.gate.validate import ReadingWindow
from charter.keys import SigningKey, load_or_create
from charter.ledger import rotation
from charter.ledger.log import Ledger
from charter.ledger.witness import Witnesses
from charter.policy.loader import load_policy
from charter.policy.service import TrustService
from charter.policy.source import PolicySource
from charter.privacy.fields import FieldCipher
from charter.privacy.keystore import KeyStore
from charter.privacy.pseudonym import Pseudonymiser
from charter.registry.rules import RegisterRules
from charter.registry.secret import load_or_create_secret
from charter.registry.service import Registry
from charter.rights.context import RightsContext
from charter.rights.feed import ServiceFeed
from charter.rights.figures import RightsFigures
from charter.rights.index import ConsentIndex
from charter.rights.service import Rights
from charter.security import actions
from charter.security.approvals import ActionKind, Approvals
from charter.security.bulkread import BulkReadGuard
from charter.security.device_keys import DeviceKeys
from charter.security.ratelimit import RateLimiter
from charter.security.tokens import TokenVerifier
from charter.services.actuator import Channel, InProcessChannel
from charter.services.host import ServiceHost
from charter.services.register import AlgorithmRegister
from charter.settings import Settings
from charter.store.base import Store
from charter.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from charter.ngsild.service import NgsiLd


@dataclass
class Platform:
    settings: Settings
    store: Store
    bus: Bus
    clock: Clock
    ledger: Ledger
    registry: Registry
    directory: DeviceDirectory
    gate: Gate
    quarantine: Quarantine
    security: Security
    rights: Rights
    algorithms: AlgorithmRegister
    services: ServiceHost

    @cached_property
    def ngsild(self) -> NgsiLd:
        """The NGSI-LD interface's services (entities, contexts), built on first use."""
        from charter.ngsild.service import NgsiLd

        return NgsiLd.build(self)

    @property
    def ledger_witnesses(self) -> Witnesses:
        """The witnesses whose cosignatures of checkpoints the ledger keeps."""
        return Witnesses(self.ledger, self.settings.ledger_witnesses, self.clock)

    @property
    def rights_report(self) -> RightsFigures:
        """Consent, access-request and retention figures for the transparency report."""
        return RightsFigures(self.store)

    def close(self) -> None:
        if "ngsild" in self.__dict__:  # built (cached_property): stop its bridge first
            self.ngsild.close()
        self.rights.close()
        self.store.close()
        close_bus = getattr(self.bus, "close", None)
        if close_bus is not None:
            close_bus()


@dataclass
class Security:
    """Trust policy, device keys, rate limits, tokens, the two-person rule, commands."""

    trust: TrustService
    device_keys: DeviceKeys
    device_limiter: RateLimiter
    token_limiter: RateLimiter
    tokens: TokenVerifier
    issuer: TokenIssuer  # the one issuer of embedded tokens: API, CLI and demo
    approvals: Approvals
    bulk_reads: BulkReadGuard
    commands: CommandSigner


def trust_policy(settings: Settings) -> TrustPolicy:
    """The policy file's rules if one is set; else the two simple settings."""
    if settings.trust_policy_file is not None:
        return load_policy(settings.trust_policy_file)
    return TrustPolicy(
        required_certifications=frozenset(settings.required_certifications),
        denied_jurisdictions=frozenset(settings.denied_jurisdictions),
    )


def ledger_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "ledger.pem"


def command_key_path(settings: Settings) -> Path:
    """The key actuator commands are signed with: not the ledger's, so one leak is not both."""
    return settings.data_dir / "keys" / "commands.pem"


def ledger_key_name(settings: Settings) -> str:
    """Checkpoints are signed under the origin's host name."""
    return settings.ledger_origin.split("/")[0]


def open_store(settings: Settings) -> Store:
    """The store the settings choose: SQLite by default, PostgreSQL by URL."""
    url = settings.database_url
    if url is None:
        return SqliteStore(settings.database_path, synchronous=settings.sqlite_synchronous)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return SqliteStore(parsed.database, synchronous=settings.sqlite_synchronous)
    if parsed.get_backend_name() in {"postgresql", "postgres"}:
        from charter.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database_url scheme: {url.split(':', 1)[0]!r}")


def open_bus(settings: Settings) -> Bus:
    """The bus the settings choose: in-process by default, NATS JetStream by URL."""
    url = settings.bus_url
    if url is None:
        return InProcessBus()
    if url.startswith(("nats://", "tls://")):
        from charter.bus.nats import NatsBus, NatsLink, Subjects

        return NatsBus(NatsLink(url), Subjects(settings.bus_prefix))
    raise ValueError(f"unsupported bus_url scheme: {url.split(':', 1)[0]!r}")


def gate_config(settings: Settings) -> GateConfig:
    return GateConfig(
        limits=Limits(settings.max_envelope_bytes, settings.max_readings),
        window=Window(settings.max_envelope_age_s * 1000, settings.max_clock_skew_s * 1000),
        reading_window=ReadingWindow(
            settings.max_reading_age_s * 1000, settings.max_clock_skew_s * 1000
        ),
    )


def register_rules(settings: Settings) -> RegisterRules:
    return RegisterRules.from_lists(
        settings.consultation_days,
        settings.principles,
        settings.prohibited_uses,
        settings.comment_max_chars,
        settings.comments_per_hour,
    )


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    bus: Bus | None = None,
    clock: Clock | None = None,
    ledger_key: SigningKey | None = None,
    observer: GateObserver | None = None,
    channel: Channel | None = None,
) -> Platform:
    store = store or open_store(settings)
    bus = bus or open_bus(settings)
    clock = clock or SystemClock()
    key_path = ledger_key_path(settings)
    key = ledger_key or rotation.load_ledger_key(key_path, ledger_key_name(settings), store)
    # Another process may rotate the key: the ledger then finds the new one in the data directory.
    reload_key = partial(rotation.reload_ledger_key, key_path, ledger_key_name(settings), store)
    ledger = Ledger(store, key, settings.ledger_origin, clock, reload_key)
    Witnesses(ledger, settings.ledger_witnesses, clock)  # a malformed witness key fails here
    registry = Registry(
        store,
        ledger,
        bus,
        PolicySource(store, trust_policy(settings), partial(trust_policy, settings)),
        rules=register_rules(settings),
        source_key=load_or_create_secret(settings.data_dir / "keys" / "comment-source.key"),
    )
    # No bus event needed: the gate reads the register's version once per batch
    # (gate/directory.py), so a change by this process or any other is seen alike.
    directory = DeviceDirectory(store)
    device_limiter = RateLimiter(settings.device_rate_per_s, settings.device_burst, clock)
    config = replace(gate_config(settings), device_limiter=device_limiter)
    keys = KeyStore(settings.keystore_path)
    pseudonyms = Pseudonymiser(keys, clock)
    cipher = FieldCipher(keys)
    index = ConsentIndex(store, pseudonyms, cipher)
    gate = Gate(
        store,
        bus,
        clock,
        directory,
        config=config,
        consent=index,
        personal=index,
        observer=observer,
    )
    approvals = Approvals(store, ledger, clock, settings.approval_ttl_s)
    actions.install(approvals, registry, ledger)
    approvals.register(ActionKind.ROTATE_LEDGER_KEY, rotation.handler(ledger, key_path))
    name = ledger_key_name(settings)
    command_key = partial(load_or_create, command_key_path(settings), name)
    security = Security(
        trust=TrustService(store, ledger, bus, registry),
        device_keys=DeviceKeys(store, ledger, bus, clock, settings.device_key_overlap_s),
        device_limiter=device_limiter,
        token_limiter=RateLimiter(settings.token_rate_per_s, settings.token_burst, clock),
        tokens=TokenVerifier(store, clock, settings),
        issuer=TokenIssuer(
            store, clock, settings.auth_audience, settings.auth_issuer, settings.token_ttl_s
        ),
        approvals=approvals,
        bulk_reads=BulkReadGuard(
            approvals, ledger, clock, settings.bulk_read_threshold, settings.bulk_read_window_s
        ),
        commands=CommandSigner(command_key, clock, settings.command_ttl_s),
    )
    rights = Rights(
        RightsContext(settings, store, ledger, gate, clock, keys, pseudonyms, cipher, index),
        security.issuer,
        guard=security.bulk_reads,  # the two-person rule on bulk reads of personal data
    )
    approvals.register(ActionKind.MASS_ERASURE, rights.subject.erase_scope)
    services = ServiceHost(
        store,
        bus,
        security.commands,
        clock,
        channel or InProcessChannel(),
        is_disabled=registry.services.disabled,
        heartbeat_s=settings.service_heartbeat_s,
        personal=ServiceFeed(rights.ctx),  # the one door for personal readings
    )
    return Platform(
        settings,
        store,
        bus,
        clock,
        ledger,
        registry,
        directory,
        gate,
        Quarantine(store, gate, ledger),
        security,
        rights,
        AlgorithmRegister(store, ledger),
        services,
    )
