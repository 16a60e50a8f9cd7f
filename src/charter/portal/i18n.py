"""Languages of the portal: gettext catalogues (Babel), chosen per request.

The language is, in order: `?lang=` on the request, the `charter_lang` cookie the
language switch sets, the browser's `Accept-Language`, English. The current
request's translations live in a context variable, so templates, macros and
Python code all translate the same way (`gettext`, `ngettext`) and format dates
and numbers per locale (`format_datetime`, `format_number`).

Every reason code has a plain sentence (`charter.domain.reasons.SENTENCES`);
its translation is looked up with `reason_sentence`, the catalogue's msgid being
the English sentence, so a new reason code shows in English until translated
(tests/portal check that none is untranslated).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from charter.domain.reasons import SENTENCES, Reason

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: dict[str, str] = {"en": "English", "ja": "日本語"}
DEFAULT = "en"
COOKIE = "charter_lang"
DOMAIN = "messages"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("charter_lang", default=DEFAULT)


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of a language (English needs none: msgids are English)."""
    if lang == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], DOMAIN)


def negotiate(accept_language: str) -> str | None:
    """The best of LANGUAGES for an Accept-Language header, or None."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().lower()))
    for _q, _i, tag in sorted(ranked):
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
    return None


def choose(query: str | None, cookie: str | None, accept_language: str) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    return negotiate(accept_language) or DEFAULT


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Translate and format in `lang` inside the block."""
    token = _current.set(lang if lang in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def reason_sentence(reason: Reason | str) -> str:
    """The plain sentence of a reason code, in the current language."""
    try:
        r = Reason(reason)
    except ValueError:
        return str(reason)
    return gettext(SENTENCES[r])


def _locale() -> Locale:
    return Locale.parse(current())


def format_number(value: float | int) -> str:
    return str(format_decimal(value, locale=_locale()))


def format_pct(value: float) -> str:
    return str(format_percent(value, locale=_locale()))


def _aware(value: datetime | int) -> datetime:
    if isinstance(value, int):  # milliseconds since the epoch, as the store keeps them
        return datetime.fromtimestamp(value / 1000, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_datetime(value: datetime | int | None, fmt: str = "medium") -> str:
    """A date and time in the current locale, in UTC (the platform's time)."""
    if value is None:
        return "—"
    return str(_format_datetime(_aware(value), fmt, tzinfo=UTC, locale=_locale())) + " UTC"


def format_iso(value: str | None, fmt: str = "medium") -> str:
    """An ISO 8601 time (as reports and the ledger write them) in the current locale."""
    if not value:
        return "—"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return format_datetime(parsed, fmt)


def format_date(value: datetime | int | None, fmt: str = "medium") -> str:
    if value is None:
        return "—"
    return str(_format_date(_aware(value).date(), fmt, locale=_locale()))
