"""Residents' feedback on a consultation: comments, support or opposition, themes, responses.

Anyone may comment while a consultation runs, without an account. A source (the
client's address) is kept only as a keyed hash, to limit how often it may
comment; names and contact details go to a separate table and are never
published or logged. Text is stored as given and escaped wherever it is shown.
Staff group comments into themes and publish a response per theme; the
responses are on the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import timedelta

from charter.domain.clock import to_ms
from charter.domain.consultation import Comment, Consultation, Stance, Theme
from charter.domain.errors import CharterError, Invalid, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.registry.lifecycle import Lifecycle
from charter.registry.rules import RegisterRules
from charter.store.base import Store

HOUR_MS = int(timedelta(hours=1).total_seconds() * 1000)
MAX_TITLE = 200
MAX_RESPONSE = 20_000


def clean(text: str) -> str:
    """Strip surrounding space and control characters other than line breaks and tabs."""
    kept = (ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return "".join(kept).strip()


class Feedback:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        rules: RegisterRules,
        lifecycle: Lifecycle,
        source_key: bytes,
    ) -> None:
        self.store, self.ledger, self.rules = store, ledger, rules
        self.lifecycle, self._key = lifecycle, source_key

    def source_of(self, address: str) -> str:
        """A keyed hash of a client address: enough to count, useless to find a person."""
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()

    def _running(self, project_id: str) -> Consultation:
        if self.store.get_project(project_id) is None:
            raise NotFound(project_id)
        c = self.lifecycle.open_for(project_id)
        if c is None:
            raise CharterError(Reason.CONSULTATION_CLOSED, f"{project_id} is not in consultation")
        return c

    def comment(
        self,
        project_id: str,
        text: str,
        stance: Stance,
        address: str,
        *,
        name: str | None = None,
        contact: str | None = None,
    ) -> Comment:
        consultation = self._running(project_id)
        now_ms = to_ms(self.ledger.clock.now())
        if consultation.has_ended(now_ms):
            raise CharterError(
                Reason.CONSULTATION_CLOSED, "the consultation period has ended; comments are closed"
            )
        body = clean(text)
        if not body and stance is Stance.COMMENT:
            raise Invalid("a comment needs some text, or a stance of support or oppose")
        if len(body) > self.rules.comment_max_chars:
            raise Invalid(f"a comment may have at most {self.rules.comment_max_chars} characters")
        for label, value in (("name", name), ("contact", contact)):
            if value is not None and len(value) > 200:
                raise Invalid(f"the {label} may have at most 200 characters")
        source = self.source_of(address)
        if (
            self.store.count_comments_from(source, now_ms - HOUR_MS + 1)
            >= self.rules.comments_per_hour
        ):
            raise CharterError(
                Reason.RATE_LIMITED,
                f"at most {self.rules.comments_per_hour} comments an hour from one source",
            )
        draft = Comment(0, consultation.id, now_ms, stance, body)
        with self.store.transaction() as tx:
            cid = tx.insert_comment(draft, source, clean(name or "") or None, contact or None)
        return Comment(cid, consultation.id, now_ms, stance, body)

    def add_theme(
        self,
        project_id: str,
        title: str,
        summary: str,
        comment_ids: list[int],
        actor: Actor,
    ) -> Theme:
        consultation = self._running(project_id)
        title, summary = clean(title), clean(summary)
        if not title or len(title) > MAX_TITLE:
            raise Invalid(f"a theme needs a title of 1 to {MAX_TITLE} characters")
        self._check_comments(consultation.id, comment_ids)
        with self.ledger.write() as w:
            tid = w.tx.insert_theme(Theme(0, consultation.id, w.now_ms, title, summary))
            for cid in comment_ids:
                w.tx.set_comment_theme(cid, tid)
            w.record(
                "consultation.theme",
                actor,
                subject=project_id,
                consultation=consultation.id,
                theme=tid,
                title=title,
                comments=len(comment_ids),
            )
        return Theme(tid, consultation.id, w.now_ms, title, summary)

    def assign(self, theme_id: int, comment_ids: list[int], actor: Actor) -> Theme:
        theme = self._theme(theme_id)
        self._still_open(theme)
        self._check_comments(theme.consultation_id, comment_ids)
        with self.store.transaction() as tx:
            for cid in comment_ids:
                tx.set_comment_theme(cid, theme_id)
        return theme

    def respond(self, theme_id: int, response: str, actor: Actor) -> Theme:
        """Publish "you said, we did" for a theme; it may be revised until the decision."""
        theme = self._theme(theme_id)
        consultation = self._still_open(theme)
        text = clean(response)
        if not text or len(text) > MAX_RESPONSE:
            raise Invalid(f"a response needs 1 to {MAX_RESPONSE} characters")
        with self.ledger.write() as w:
            w.tx.set_theme_response(theme_id, text, w.now_ms)
            w.record(
                "consultation.response",
                actor,
                subject=consultation.project_id,
                consultation=consultation.id,
                theme=theme_id,
                response=text,
            )
        return Theme(
            theme.id,
            theme.consultation_id,
            theme.created_at,
            theme.title,
            theme.summary,
            text,
            w.now_ms,
        )

    def _still_open(self, theme: Theme) -> Consultation:
        consultation = self.store.get_consultation(theme.consultation_id)
        if consultation is None or self.lifecycle.open_for(consultation.project_id) != consultation:
            raise CharterError(Reason.CONSULTATION_CLOSED, "the consultation has been decided")
        return consultation

    def _theme(self, theme_id: int) -> Theme:
        theme = self.store.get_theme(theme_id)
        if theme is None:
            raise NotFound(f"theme {theme_id}")
        return theme

    def _check_comments(self, consultation_id: int, comment_ids: list[int]) -> None:
        for cid in comment_ids:
            c = self.store.get_comment(cid)
            if c is None or c.consultation_id != consultation_id:
                raise Invalid(f"comment {cid} does not belong to this consultation")
