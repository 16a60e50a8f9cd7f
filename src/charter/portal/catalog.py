"""Keep the portal's gettext catalogues in step with its templates and code.

    python -m charter.portal.catalog          # extract, update every .po, compile .mo

Messages come from the templates (`_()`, `ngettext()`, `{% trans %}`), from the
portal's Python modules (`gettext("...")`, `ngettext(...)`, `N_("...")`), from every
reason code's sentence (`charter.domain.reasons.SENTENCES`) and from `EXTRA`
(words the code passes to templates as data: roles, statuses, categories). Existing
translations are kept; a new message starts untranslated (tests/portal fail on it).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from charter.domain.reasons import SENTENCES
from charter.portal.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

HERE = Path(__file__).parent
FIXED = datetime(2026, 12, 1, tzinfo=UTC)  # no date churn in the committed catalogues
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}

# Shown through variables, so extraction cannot see them.
EXTRA: tuple[str, ...] = (
    "resident",
    "operator",
    "council",
    "consumer",
    "auditor",
    "public",
    "Home",
    "Sensor map",
    "Projects",
    "Consultations",
    "Transparency report",
    "Public ledger",
    "the form's security token is missing or does not match; reload the page",
    "sign in to open this page",
    "your role may not open this page",
)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it (translated where shown)."""
    return message


def extract(extra: Iterable[str] = ()) -> Catalog:
    catalog = Catalog(project="charter-portal", domain=DOMAIN, fuzzy=False, creation_date=FIXED)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(HERE), METHODS, options_map=OPTIONS, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for sentence in SENTENCES.values():
        catalog.add(sentence, None, [("charter/domain/reasons.py", 0)])
    for message in (*EXTRA, *extra):
        catalog.add(message, None, [("charter/portal/catalog.py", 0)])
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN)
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def update(lang: str, template: Catalog) -> Catalog:
    """The language's catalogue with the template's messages, translations kept."""
    old = read(lang)
    new = Catalog(
        locale=lang,
        domain=DOMAIN,
        project="charter-portal",
        fuzzy=False,
        creation_date=FIXED,
        revision_date=FIXED,
    )
    for message in template:
        if not message.id:
            continue
        before = old.get(message.id)
        string = before.string if before is not None else ("" if lang != "en" else None)
        if lang == "en":
            string = message.id  # English is the source language
        new.add(message.id, string, message.locations, auto_comments=message.auto_comments)
    return new


def compile_mo(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def write(lang: str, catalog: Catalog) -> None:
    path = po_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    path.with_suffix(".mo").write_bytes(compile_mo(catalog))


def untranslated(catalog: Catalog) -> list[str]:
    out = []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        if not all(strings):
            out.append(m.id if isinstance(m.id, str) else m.id[0])
    return out


def main() -> None:
    template = extract()
    for lang in LANGUAGES:
        catalog = update(lang, template)
        write(lang, catalog)
        missing = untranslated(catalog)
        print(f"{lang}: {len(catalog)} messages, {len(missing)} untranslated")


if __name__ == "__main__":
    main()
