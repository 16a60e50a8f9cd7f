"""Where every process gets the trust policy: the one the city adopted, in the store.

`charter policy apply` and `POST /policy/apply` read the configured policy (the
file `trust_policy_file` names, or the two simple settings) and adopt it: the
rules are stored in the same transaction as their ledger entry. Every door then
judges by the stored rules: the server, the workers and the CLI alike, whatever
copy of the file each had when it started. Until a policy was first applied,
the configured one is used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from charter.domain.trust import TrustPolicy
from charter.store.base import Store


class PolicySource:
    def __init__(
        self, store: Store, default: TrustPolicy, configured: Callable[[], TrustPolicy]
    ) -> None:
        """default: the configured policy as read at start-up; configured: reads it again."""
        self.store = store
        self._default = default
        self._configured = configured
        self._cached: tuple[str, TrustPolicy] | None = None
        self._lock = threading.Lock()

    def configured(self) -> TrustPolicy:
        """The policy the settings name, read afresh (the file may have been edited)."""
        return self._configured()

    def current(self) -> TrustPolicy:
        """The adopted policy: one read of the store, parsed again only when it changed."""
        rules = self.store.read_trust_policy()
        if rules is None:
            return self._default
        cached = self._cached
        if cached is not None and cached[0] == rules:
            return cached[1]
        policy = TrustPolicy.model_validate_json(rules)
        with self._lock:
            self._cached = (rules, policy)
        return policy
