"""Consultations, comments and themes (a part of the SQL store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import Connection

from charter.domain.consultation import (
    Comment,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Stance,
    Theme,
)
from charter.store import schema as s


def _pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class SqlConsultationTx:
    """Writes of consultations, comments and themes."""

    # Mixed into SqlTx, which provides the connection.
    conn: Connection
    register_changed: bool

    def insert_consultation(self, c: Consultation) -> int:
        res = self.conn.execute(
            s.consultations.insert().values(
                project_id=c.project_id,
                kind=c.kind.value,
                opened_at=c.opened_at,
                closes_at=c.closes_at,
                status=c.status.value,
                proposal=c.proposal,
                changes=c.changes,
                decided_at=c.decided_at,
                why=c.why,
            )
        )
        return _pk(res)

    def decide_consultation(self, consultation_id: int, status: str, at: int, why: str) -> None:
        self.conn.execute(
            update(s.consultations)
            .where(s.consultations.c.id == consultation_id)
            .values(status=status, decided_at=at, why=why)
        )

    def insert_comment(self, c: Comment, source: str, name: str | None, contact: str | None) -> int:
        res = self.conn.execute(
            s.comments.insert().values(
                consultation_id=c.consultation_id,
                at=c.at,
                stance=c.stance.value,
                text=c.text,
                theme_id=c.theme_id,
                source=source,
            )
        )
        comment_id = _pk(res)
        if name or contact:
            self.conn.execute(
                s.comment_contacts.insert().values(
                    comment_id=comment_id, name=name or None, contact=contact or None
                )
            )
        return comment_id

    def set_comment_theme(self, comment_id: int, theme_id: int) -> None:
        self.conn.execute(
            update(s.comments).where(s.comments.c.id == comment_id).values(theme_id=theme_id)
        )

    def insert_theme(self, t: Theme) -> int:
        res = self.conn.execute(
            s.themes.insert().values(
                consultation_id=t.consultation_id,
                created_at=t.created_at,
                title=t.title,
                summary=t.summary,
                response=t.response,
                responded_at=t.responded_at,
            )
        )
        return _pk(res)

    def set_theme_response(self, theme_id: int, response: str, at: int) -> None:
        self.conn.execute(
            update(s.themes)
            .where(s.themes.c.id == theme_id)
            .values(response=response, responded_at=at)
        )


class SqlConsultationStore:
    """Reads of consultations, comments and themes."""

    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def project_updated_at(self, project_id: str) -> int | None:
        p = s.projects
        rows = self._rows(select(p.c.updated_at).where(p.c.id == project_id))
        return int(rows[0][0]) if rows else None

    @staticmethod
    def _consultation(r: Any) -> Consultation:
        return Consultation(
            id=r.id,
            project_id=r.project_id,
            kind=ConsultationKind(r.kind),
            opened_at=r.opened_at,
            closes_at=r.closes_at,
            status=ConsultationStatus(r.status),
            proposal=r.proposal,
            changes=r.changes,
            decided_at=r.decided_at,
            why=r.why,
        )

    def consultations(self, project_id: str | None = None) -> list[Consultation]:
        c = s.consultations
        stmt = select(c).order_by(c.c.id)
        if project_id is not None:
            stmt = stmt.where(c.c.project_id == project_id)
        return [self._consultation(r) for r in self._rows(stmt)]

    def get_consultation(self, consultation_id: int) -> Consultation | None:
        c = s.consultations
        rows = self._rows(select(c).where(c.c.id == consultation_id))
        return self._consultation(rows[0]) if rows else None

    @staticmethod
    def _comment(r: Any) -> Comment:
        return Comment(r.id, r.consultation_id, r.at, Stance(r.stance), r.text, r.theme_id)

    def comments(
        self, consultation_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> list[Comment]:
        c = s.comments
        stmt = (
            select(c.c.id, c.c.consultation_id, c.c.at, c.c.stance, c.c.text, c.c.theme_id)
            .where(c.c.consultation_id == consultation_id, c.c.id > after_id)
            .order_by(c.c.id)
            .limit(limit)
        )
        return [self._comment(r) for r in self._rows(stmt)]

    def get_comment(self, comment_id: int) -> Comment | None:
        c = s.comments
        stmt = select(
            c.c.id, c.c.consultation_id, c.c.at, c.c.stance, c.c.text, c.c.theme_id
        ).where(c.c.id == comment_id)
        rows = self._rows(stmt)
        return self._comment(rows[0]) if rows else None

    def stance_counts(self, consultation_id: int) -> dict[str, int]:
        c = s.comments
        stmt = (
            select(c.c.stance, func.count())
            .where(c.c.consultation_id == consultation_id)
            .group_by(c.c.stance)
        )
        counts = {st.value: 0 for st in Stance}
        counts.update({r[0]: int(r[1]) for r in self._rows(stmt)})
        return counts

    def count_comments_from(self, source: str, since: int) -> int:
        c = s.comments
        stmt = select(func.count()).select_from(c).where(c.c.source == source, c.c.at >= since)
        return int(self._rows(stmt)[0][0])

    @staticmethod
    def _theme(r: Any) -> Theme:
        return Theme(
            r.id, r.consultation_id, r.created_at, r.title, r.summary, r.response, r.responded_at
        )

    def themes(self, consultation_id: int) -> list[Theme]:
        t = s.themes
        stmt = select(t).where(t.c.consultation_id == consultation_id).order_by(t.c.id)
        return [self._theme(r) for r in self._rows(stmt)]

    def get_theme(self, theme_id: int) -> Theme | None:
        rows = self._rows(select(s.themes).where(s.themes.c.id == theme_id))
        return self._theme(rows[0]) if rows else None
