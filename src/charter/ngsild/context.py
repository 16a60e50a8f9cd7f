"""JSON-LD @context handling: a local cache, bounded remote fetches, term expansion.

The core context (Annex B of GS CIM 009 v1.8) and the Smart Data Models contexts
Charter's entity types use are committed in `contexts/` and served from there,
so the platform works offline. Any other remote context is fetched only from a
host the operator allowed (`ngsild_context_hosts`), within a time and a size
bound; what cannot be had answers 503 LdContextNotAvailable (504 when the host
did not answer in time), never a hang. Contexts are processed by pyld (the W3C
JSON-LD 1.1 context processing algorithm, protected terms, loops); processed
contexts are kept in a bounded LRU cache keyed by the context as sent.

Only attribute names, entity types and vocab values are expanded and compacted,
as the NGSI-LD brokers do: values stay as sent (clause 5.5.7 leaves value
expansion to the client), which keeps expansion a dictionary look-up per term.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import httpx
from pyld import jsonld

from charter.ngsild.errors import ErrorType, NgsiError, bad_data

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
NGSILD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
MAX_CONTEXT_TERMS = 10_000  # a context with more terms is refused as huge
MAX_INLINE_CONTEXT_BYTES = 256 * 1024
CACHE_SIZE = 256


@dataclass(frozen=True)
class ContextLimits:
    hosts: tuple[str, ...] = ()  # hosts remote contexts may be fetched from
    timeout_s: float = 3.0  # for the whole resolution of one request's @context
    max_bytes: int = 1024 * 1024  # per fetched document


def _load_local() -> dict[str, Any]:
    base = resources.files("charter.ngsild") / "contexts"
    index: dict[str, str] = json.loads((base / "index.json").read_text())
    docs: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for url, name in index.items():
        if name not in files:
            files[name] = json.loads((base / name).read_text())
        docs[url] = files[name]
    return docs


LOCAL: dict[str, Any] = _load_local()
# The core context URLs of earlier versions (unversioned, v1.3 ... v1.7): each is the
# committed v1.8 core (`contexts/index.json`), since the core terms of what Charter
# supports did not change; a request naming one is read as naming the core.
CORE_ALIASES: frozenset[str] = frozenset(
    url for url, doc in LOCAL.items() if doc is LOCAL[CORE_CONTEXT] and url != CORE_CONTEXT
)
# Lookups of hosted contexts (url -> document or None), consulted before any fetch.
HOSTED: list[Callable[[str], Any]] = []


class Terms:
    """A processed @context: expands and compacts terms, with memoised answers."""

    def __init__(self, active: dict[str, Any], source: tuple[Any, ...]) -> None:
        self.active = active
        self.source = source  # the context as the client gave it (without the core)
        self.urls = tuple(p for p in source if isinstance(p, str))
        self._processor = jsonld.JsonLdProcessor()
        self._expanded: dict[str, str | None] = {}
        self._compacted: dict[str, str] = {}
        # Names that passed charter.ngsild.model.expand_name's checks, and their IRIs.
        self.checked: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember_checked(self, name: str, iri: str) -> None:
        with self._lock:
            if len(self.checked) < 100_000:
                self.checked[name] = iri

    def expand(self, term: str) -> str | None:
        hit = self._expanded.get(term, "")
        if hit != "":
            return hit
        iri = self._processor._expand_iri(self.active, term, vocab=True)
        out = iri if isinstance(iri, str) else None
        with self._lock:
            if len(self._expanded) < 100_000:
                self._expanded[term] = out
        return out

    def compact(self, iri: str) -> str:
        hit = self._compacted.get(iri)
        if hit is not None:
            return hit
        if iri.startswith(DEFAULT_VOCAB) and self.expand(iri[len(DEFAULT_VOCAB) :]) == iri:
            short = iri[len(DEFAULT_VOCAB) :]
        else:
            short = self._processor._compact_iri(self.active, iri, vocab=True)
            if short == iri:  # a typed term (`"@type": DateTime`) is an attribute's name too
                short = _term_of(self.active, iri) or iri
        with self._lock:
            if len(self._compacted) < 100_000:
                self._compacted[iri] = short
        return str(short)


def _term_of(active: dict[str, Any], iri: str) -> str | None:
    """The shortest term whose @id is `iri`, whatever its @type (JSON-LD term selection
    with no value skips typed terms, but an NGSI-LD attribute name has no value type)."""
    names = [
        t for t, d in (active.get("mappings") or {}).items()
        if isinstance(d, dict) and d.get("@id") == iri and not d.get("@reverse")
    ]  # fmt: skip
    return min(names, key=lambda t: (len(t), t)) if names else None


@dataclass
class Contexts:
    """Resolves the @context of a request into `Terms`; the one place contexts are fetched."""

    limits: ContextLimits = field(default_factory=ContextLimits)
    fetch: Callable[[str, float, int], Any] | None = None  # injectable (tests)
    _cache: OrderedDict[str, Terms] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def core(self) -> Terms:
        return self.resolve(None)

    def resolve(self, context: Any) -> Terms:
        """The terms of `context` (a URL, an object or a list of them) with the core last."""
        if isinstance(context, str) and context in CORE_ALIASES:
            context = CORE_CONTEXT
        if context is None or context == [] or context == CORE_CONTEXT:
            parts: list[Any] = []
        elif isinstance(context, list):
            parts = [c for c in context if not (isinstance(c, str) and _is_core(c))]
        else:
            parts = [context]
        for part in parts:
            if not isinstance(part, str | dict):
                raise bad_data("@context must be a URL, an object or a list of them")
            if isinstance(part, str) and not _is_url(part):
                raise bad_data("a @context URL must be an absolute http(s) URL")
        key = json.dumps(parts, sort_keys=True, separators=(",", ":"))
        if len(key) > MAX_INLINE_CONTEXT_BYTES:
            raise bad_data("the @context is too large")
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        terms = self._process(parts)
        with self._lock:
            self._cache[key] = terms
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return terms

    def _process(self, parts: list[Any]) -> Terms:
        deadline = time.monotonic() + self.limits.timeout_s
        loader = self._loader(deadline)
        proc = jsonld.JsonLdProcessor()
        options = {"documentLoader": loader, "base": "", "processingMode": "json-ld-1.1"}
        try:
            active = proc.process_context(proc._get_initial_context(options), parts, options)
            active = proc.process_context(active, [CORE_CONTEXT], options)
        except NgsiError:
            raise
        except jsonld.JsonLdError as exc:
            raise self._from_pyld(exc) from None
        except RecursionError:
            raise bad_data("the @context nests too deeply") from None
        if len(active.get("mappings", {})) > MAX_CONTEXT_TERMS:
            raise bad_data(f"the @context defines more than {MAX_CONTEXT_TERMS} terms")
        return Terms(active, tuple(parts))

    def _from_pyld(self, exc: jsonld.JsonLdError) -> NgsiError:
        cause: Any = exc
        while cause is not None:
            if isinstance(cause, NgsiError):
                return cause
            code = getattr(cause, "code", None) or ""
            if code in ("recursive context inclusion", "context overflow"):
                return bad_data("the @context includes itself or too many remote contexts")
            if code == "protected term redefinition":
                return bad_data("the @context redefines a protected core term")
            cause = getattr(cause, "cause", None) or cause.__cause__
        return bad_data("the @context is not a valid JSON-LD context")

    def _loader(self, deadline: float) -> Callable[..., dict[str, Any]]:
        def load(url: str, _options: Any = None) -> dict[str, Any]:
            doc = LOCAL.get(url)
            for hosted in HOSTED:  # contexts clients stored on Charter (ngsild.discovery)
                doc = doc if doc is not None else hosted(url)
            if doc is None:
                doc = self._remote(url, deadline)
            return {"contentType": "application/ld+json", "contextUrl": None,
                    "documentUrl": url, "document": doc}  # fmt: skip

        return load

    def _remote(self, url: str, deadline: float) -> Any:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.limits.hosts:
            raise NgsiError(
                ErrorType.LD_CONTEXT_NOT_AVAILABLE,
                "the @context is not cached here and its host is not one Charter may fetch from",
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timeout()
        fetch = self.fetch or _http_fetch
        try:
            return fetch(url, left, self.limits.max_bytes)
        except NgsiError:
            raise
        except httpx.TimeoutException:
            raise _timeout() from None
        except (httpx.HTTPError, ValueError, OSError):
            raise NgsiError(
                ErrorType.LD_CONTEXT_NOT_AVAILABLE, "a remote @context could not be retrieved"
            ) from None


def _timeout() -> NgsiError:
    return NgsiError(
        ErrorType.LD_CONTEXT_NOT_AVAILABLE,
        "a remote @context did not arrive in time",
        status=504,
    )


def _is_core(url: str) -> bool:
    return url == CORE_CONTEXT or url in CORE_ALIASES


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _http_fetch(url: str, timeout_s: float, max_bytes: int) -> Any:
    """GET a context within `timeout_s` in all (not per read) and `max_bytes`."""
    end = time.monotonic() + timeout_s
    body = bytearray()
    headers = {"Accept": "application/ld+json, application/json;q=0.9"}
    with (
        httpx.Client(timeout=timeout_s, follow_redirects=False) as client,
        client.stream("GET", url, headers=headers) as resp,
    ):
        if resp.status_code != 200:
            raise ValueError("not found")
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise NgsiError(ErrorType.BAD_REQUEST_DATA, "a remote @context is too large")
            if time.monotonic() > end:
                raise httpx.ReadTimeout("too slow")
    return json.loads(body)
