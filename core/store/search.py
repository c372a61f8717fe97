"""Full-text search over questions and answers: FTS5 on SQLite, tsvector on PostgreSQL.

A person's query is reduced to its words, so no query syntax of either engine can be injected;
every word must match, the last one as a prefix (search-as-you-type).
"""

from __future__ import annotations

import re

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.store.tables import Conversation

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12

_SQLITE_PAGE = """
SELECT c.id FROM conversations c
WHERE c.workspace_id = :ws AND c.archived = 0 AND c.id IN (
    SELECT d.conversation_id FROM search_documents_fts f JOIN search_documents d ON d.id = f.rowid
    WHERE search_documents_fts MATCH :q AND d.workspace_id = :ws)
ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit OFFSET :offset
"""
_SQLITE_SNIPPETS = """
SELECT d.conversation_id, snippet(search_documents_fts, 0, '', '', '…', 16)
FROM search_documents_fts f JOIN search_documents d ON d.id = f.rowid
WHERE search_documents_fts MATCH :q AND d.conversation_id IN ({ids})
ORDER BY d.id
"""
_PG_PAGE = """
SELECT c.id FROM conversations c
WHERE c.workspace_id = :ws AND NOT c.archived AND c.id IN (
    SELECT d.conversation_id FROM search_documents d
    WHERE d.workspace_id = :ws AND to_tsvector('simple', d.body) @@ to_tsquery('simple', :q))
ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit OFFSET :offset
"""
_PG_SNIPPETS = """
SELECT d.conversation_id, ts_headline('simple', d.body, to_tsquery('simple', :q),
       'StartSel="",StopSel="",MaxWords=24,MinWords=8,ShortWord=2')
FROM search_documents d
WHERE d.conversation_id IN ({ids}) AND to_tsvector('simple', d.body) @@ to_tsquery('simple', :q)
ORDER BY d.id
"""


def terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


def sqlite_match(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def postgres_tsquery(words: list[str]) -> str:
    return " & ".join([*words[:-1], words[-1] + ":*"])


async def search(session: AsyncSession, workspace_id: int, query: str, limit: int, offset: int
                 ) -> list[tuple[Conversation, str]]:
    words = terms(query)
    if not words:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    q = postgres_tsquery(words) if postgres else sqlite_match(words)
    page = _PG_PAGE if postgres else _SQLITE_PAGE
    ids = list((await session.scalars(
        text(page), {"ws": workspace_id, "q": q, "limit": limit, "offset": offset})).all())
    if not ids:
        return []
    id_list = ", ".join(str(int(i)) for i in ids)
    snippets: dict[int, str] = {}
    for conversation_id, snippet in await session.execute(
        text((_PG_SNIPPETS if postgres else _SQLITE_SNIPPETS).format(ids=id_list)), {"q": q}
    ):
        snippets.setdefault(conversation_id, snippet)
    rows = {c.id: c for c in await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))}
    return [(rows[i], snippets.get(i, "")) for i in ids if i in rows]
