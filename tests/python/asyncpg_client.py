"""asyncpg through the proxy: binary formats for every value, named prepared
statements (its statement cache and explicit prepare()), executemany
pipelined under one Sync.

Usage: asyncpg_client.py PROXY_URL USER_ID
Steps: dual_write, then read_dual_write (the test has changed a row in the
new tables only), then after_flip (the test has moved the migration to
write_new) and write_new. Driven by tests/python_clients.rs (see steps.py).
"""

import asyncio
import json
import sys
import uuid

import asyncpg

from steps import TODO_COLUMNS, canonical_rows, step

INSERT = "INSERT INTO todos (user_id, title, priority, tags, metadata) VALUES ($1, $2, $3, $4, $5)"


def count_of(status):
    """The row count of a command tag such as 'UPDATE 3'."""
    return int(status.split()[-1])


async def sqlstate_of(call):
    try:
        await call
    except asyncpg.PostgresError as e:
        return {"pgcode": e.sqlstate, "message": e.message}
    return None


class Rollback(Exception):
    """Leaves an `async with conn.transaction()` block: asyncpg rolls back."""


async def writes(conn, user, phase):
    seen = {}
    await conn.executemany(
        INSERT, [(user, f"{phase} bulk {i}", i % 5, [phase, "bulk"], json.dumps({"i": i})) for i in range(100)]
    )
    seen["bulk"] = await conn.fetchval("SELECT count(*) FROM todos WHERE title LIKE $1", f"{phase} bulk %")
    rows = await conn.fetch(
        INSERT + ", ($1, $6, 7, '{}', NULL) RETURNING id, title",
        user, f"{phase} returning a", 6, ["r"], None, f"{phase} returning b",
    )
    seen["returning"] = sorted(r["title"] for r in rows)
    ids = [r["id"] for r in rows]
    seen["probe"] = {"id": str(rows[0]["id"]), "title": rows[0]["title"]}
    seen["updated"] = count_of(
        await conn.execute("UPDATE todos SET status = 'in_progress', priority = $2 WHERE id = ANY($1)", ids, 50)
    )
    seen["done"] = count_of(
        await conn.execute(
            "UPDATE todos SET status = 'done', completed_at = now() WHERE title LIKE $1 AND priority = 4",
            f"{phase} bulk %",
        )
    )
    seen["deleted"] = count_of(
        await conn.execute("DELETE FROM todos WHERE title LIKE $1 AND priority = 0", f"{phase} bulk %")
    )

    try:
        async with conn.transaction():
            await conn.execute(INSERT, user, f"{phase} ghost", 0, [], None)
            seen["updated_in_tx"] = count_of(await conn.execute("UPDATE todos SET priority = 99"))
            seen["deleted_in_tx"] = count_of(await conn.execute("DELETE FROM todos WHERE id = $1", ids[1]))
            raise Rollback()
    except Rollback:
        pass

    # A refusal, TRUNCATE by the simple protocol (execute without arguments),
    # and a locking read with LIMIT by the extended one (served in every phase).
    seen["truncate"] = await sqlstate_of(conn.execute("TRUNCATE todos"))
    seen["locking_read"] = await sqlstate_of(
        conn.fetch("SELECT id FROM todos WHERE user_id = $1 ORDER BY created_at LIMIT 1 FOR UPDATE", user)
    )
    seen["copy_in"] = await sqlstate_of(
        conn.copy_records_to_table("todos", records=[(user, "copied")], columns=["user_id", "title"])
    )
    seen["usable"] = await conn.fetchval("SELECT $1::int + 1", 41)

    # A cursor is a protocol-level portal read in pages (Execute with a row limit).
    async with conn.transaction():
        paged = [r["id"] async for r in conn.cursor("SELECT id FROM todos WHERE user_id = $1", user, prefetch=7)]
    seen["paged"] = len(paged)
    seen["paged_distinct"] = len(set(paged))
    seen["read"] = await read(conn)
    return seen


async def read(conn):
    return canonical_rows(await conn.fetch(f"SELECT {TODO_COLUMNS} FROM todos"))


async def main():
    url, user = sys.argv[1], uuid.UUID(sys.argv[2])
    conn = await asyncpg.connect(url)
    try:
        seen = await writes(conn, user, "dual_write")
        # Named prepared statements, created while reads are served from legacy.
        by_id = await conn.prepare("SELECT title FROM todos WHERE id = $1")
        insert = await conn.prepare("INSERT INTO todos (user_id, title) VALUES ($1, $2) RETURNING id")
        probe = uuid.UUID(seen["probe"]["id"])
        step("dual_write", **seen)

        step("read_dual_write", title=await by_id.fetchval(probe))

        # The test has moved the migration to write_new in between.
        title = await by_id.fetchval(probe)
        new_id = await insert.fetchval(user, "prepared before the flip")
        step("after_flip", title=title, new_id=str(new_id))

        step("write_new", **(await writes(conn, user, "write_new")))
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
