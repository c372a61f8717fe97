"""stored search vectors and prefix indexes

PostgreSQL: the documents' tsvector becomes a stored generated column and the GIN index moves onto
it, so checking a candidate row reads its vector instead of parsing its body again. SQLite: the
FTS5 table is rebuilt with indexes of 2- and 3-character prefixes, so a short last word (search as
you type) reads one prefix doclist instead of merging every term it expands to.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VECTOR_COLUMN = "body_tsv"
FTS_PREFIXES = "2 3"

_SQLITE_FTS_TABLE = (
    "CREATE VIRTUAL TABLE search_documents_fts USING fts5(body, content='search_documents', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2'{options})"
)
# The triggers of 0001 keep the FTS table in step; they name it, so they survive its rebuild.
SQLITE_FTS_INSERT_TRIGGER = (
    "CREATE TRIGGER search_documents_fts_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_documents_fts(rowid, body) VALUES (new.id, new.body); END"
)
SQLITE_FTS_REBUILD = "INSERT INTO search_documents_fts(search_documents_fts) VALUES ('rebuild')"

POSTGRES_VECTOR_INDEX = f"CREATE INDEX ix_search_documents_tsv ON search_documents USING gin ({VECTOR_COLUMN})"
_POSTGRES_EXPRESSION_INDEX = (
    "CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (to_tsvector('simple', body))"
)


def _rebuild_sqlite_fts(prefixes: str | None) -> None:
    """Recreate the FTS5 table (its options cannot be altered) and index the stored documents again."""
    options = f", prefix='{prefixes}'" if prefixes else ""
    op.execute("DROP TABLE search_documents_fts")
    op.execute(_SQLITE_FTS_TABLE.format(options=options))
    op.execute(SQLITE_FTS_REBUILD)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _rebuild_sqlite_fts(FTS_PREFIXES)
    elif dialect == "postgresql":
        op.execute("DROP INDEX ix_search_documents_tsv")
        op.execute(
            f"ALTER TABLE search_documents ADD COLUMN {VECTOR_COLUMN} tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED"
        )
        op.execute(POSTGRES_VECTOR_INDEX)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _rebuild_sqlite_fts(None)
    elif dialect == "postgresql":
        op.execute("DROP INDEX ix_search_documents_tsv")
        op.execute(f"ALTER TABLE search_documents DROP COLUMN {VECTOR_COLUMN}")
        op.execute(_POSTGRES_EXPRESSION_INDEX)
