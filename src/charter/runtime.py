"""Process settings for Charter's long-running services (worker, gateway, API).

CPython's cyclic garbage collector stops the whole process while it runs. A
gate worker holds some 100,000 long-lived objects (the register's devices,
SQLAlchemy's metadata, the libraries' modules) and every batch briefly holds
tens of thousands more (decoded readings). With the default thresholds those
batch objects are promoted before they die, full collections follow every half
second or so, and each walked every object: 60–220 ms stops, measured with
`charter bench scale`, which were the whole tail of its publish → commit
latency.

So, once a service has started and warmed up, it freezes what it holds (the
collector never walks those objects again) and collects the young generation
less often, so that a batch's objects are freed by their reference counts
before the collector would promote them. Reference cycles are still collected.
"""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default is 700). Measured
# with `charter bench scale`: 50,000 made each young collection walk so much
# that they took up to 25 ms; 10,000 keeps them near 5 ms while promoting few
# of a batch's objects. The older generations keep CPython's defaults.
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Call once a service has started: collect, freeze the survivors, collect less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
