"""Storage: SQLite (embedded, the default) or PostgreSQL (shared, DATABASE_URL, SPEC 8c).

Repositories (one module per table group) take a `Database` (storage/database.py) and
write SQL once. The choice between SQL per dialect behind the repositories and a shared
query layer (SQLAlchemy Core) came down to what the queries are: some sixty short
statements, most of them set-based (`INSERT ... SELECT` fan-outs, partial indexes, one
`UPDATE ... RETURNING` that decides a race). Both databases run nearly all of them as
written, so neither option pays: two copies of each query would drift, and a query
builder would be a second language for statements that are plain SQL already, with a
dependency and its own connection handling on top.

So each query is one text in the dialect the two share, and storage/sql.py rewrites the
three spellings that differ (parameter markers, a list passed as one parameter, and
`group_concat`) for asyncpg, once per query text. What cannot be shared is chosen in the
open from `Database.dialect`: only the outbox claim's `FOR UPDATE SKIP LOCKED`. The
schema is the one part written twice (storage/migrations/ and its postgresql/ folder,
same version numbers): DDL differs in ways a rewrite would hide (identity columns, 64-bit
ids, rebuilding a table versus altering it in place), and so may a constraint that one
backend pays for per row and the other does not (postgresql/0012: the outbox's foreign
keys, which cost PostgreSQL most of a 100,000-reader fan-out).
"""
