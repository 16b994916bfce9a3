"""psycopg 3 through the proxy: the extended query protocol with server-side
parameter binding, prepared statements from the first execution
(prepare_threshold=0), pipeline mode and binary results.

Usage: psycopg3_client.py PROXY_URL USER_ID PHASE...
Two connections live through every phase; for each PHASE (the test flips
the migration between steps) it writes and reads todos and reports a step
named after the phase. Driven by tests/python_clients.rs (see steps.py).
"""

import sys
import uuid

import psycopg
from psycopg.types.json import Jsonb

from steps import TODO_COLUMNS, canonical_rows, step

INSERT = "INSERT INTO todos (user_id, title, priority, tags, metadata) VALUES (%s, %s, %s, %s, %s) RETURNING id"


def sqlstate_of(run):
    try:
        run()
    except psycopg.Error as e:
        return {"pgcode": e.sqlstate, "message": e.diag.message_primary or str(e)}
    return None


def writes(conn, user, phase):
    seen = {}
    cur = conn.cursor()
    ids = []
    for i in range(3):
        cur.execute(INSERT, (user, f"{phase} {i}", i, [phase, "psycopg3"], Jsonb({"phase": phase, "i": i})))
        ids.append(cur.fetchone()[0])
    seen["inserted_ids"] = [str(i) for i in ids]
    cur.executemany(
        INSERT, [(user, f"{phase} many {i}", 10 + i, [], None) for i in range(4)], returning=True
    )
    many = []
    while True:
        many.append(str(cur.fetchone()[0]))
        if not cur.nextset():
            break
    seen["executemany_ids"] = many
    conn.commit()

    cur.execute("UPDATE todos SET status = %s WHERE id = ANY(%s)", ("in_progress", ids[:2]))
    seen["updated"] = cur.rowcount
    cur.execute("UPDATE todos SET priority = priority + 1 WHERE title LIKE %s RETURNING id, priority", (f"{phase} many %",))
    seen["updated_returning"] = sorted(p for _, p in cur.fetchall())
    cur.execute("DELETE FROM todos WHERE id = %s", (ids[2],))
    seen["deleted"] = cur.rowcount
    conn.commit()

    # Pipeline mode: every statement sent before any result is read, one Sync.
    with conn.pipeline():
        inserts = [conn.cursor() for _ in range(3)]
        for i, c in enumerate(inserts):
            c.execute(INSERT, (user, f"{phase} piped {i}", 20 + i, ["piped"], None))
        done = conn.cursor()
        done.execute(
            "UPDATE todos SET status = 'done', completed_at = now() WHERE title = %s", (f"{phase} piped 0",)
        )
        gone = conn.cursor()
        gone.execute("DELETE FROM todos WHERE title = %s", (f"{phase} piped 1",))
    seen["piped_ids"] = [str(c.fetchone()[0]) for c in inserts]
    seen["piped_rowcounts"] = [done.rowcount, gone.rowcount]
    conn.commit()

    seen["read"] = canonical_rows(conn.execute(f"SELECT {TODO_COLUMNS} FROM todos").fetchall())
    binary = conn.cursor(binary=True)
    binary.execute(f"SELECT {TODO_COLUMNS} FROM todos WHERE user_id = %s", (user,))
    seen["read_binary"] = canonical_rows(binary.fetchall())
    seen["binary_format"] = binary.pgresult.fformat(0) if binary.pgresult is not None else None
    lines = b""
    with conn.cursor().copy("COPY (SELECT id, title FROM todos) TO STDOUT") as copy:
        for data in copy:
            lines += bytes(data)
    seen["copied_select"] = lines.count(b"\n")
    # psycopg deallocates its statements on a rollback, so `conn` only commits:
    # what it prepared in one phase is executed by name in the next ones.
    seen["prepared"] = [
        name for (name,) in conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name").fetchall()
    ]
    conn.commit()
    return seen


def rollback_and_refusal(side, user, phase):
    """On a second connection: a rolled-back pipeline, and a refusal."""
    with side.pipeline():
        side.execute(INSERT, (user, f"{phase} ghost", 0, [], None))
        side.execute("UPDATE todos SET priority = 99")
    side.rollback()
    # The rewriter's refusal arrives for the Parse; the connection goes on.
    refused = sqlstate_of(lambda: side.execute("TRUNCATE todos")) or {}
    side.rollback()
    refused["usable"] = side.execute("SELECT %s::int + 1", (41,)).fetchone()[0]
    side.rollback()

    # A refusal in the middle of a pipeline: the statements around it do not run either.
    def piped():
        with side.pipeline():
            side.execute(INSERT, (user, f"{phase} before the refusal", 0, [], None))
            side.execute("TRUNCATE todos")
            side.execute(INSERT, (user, f"{phase} after the refusal", 0, [], None))
    refused["in_pipeline"] = sqlstate_of(piped)
    side.rollback()

    # COPY todos TO (the table form) is served from legacy only while reads are.
    def copy_table():
        with side.cursor().copy("COPY todos (id) TO STDOUT") as copy:
            refused["copied_table"] = sum(bytes(data).count(b"\n") for data in copy)
    refused["copy_table"] = sqlstate_of(copy_table)
    side.rollback()
    return refused


def main():
    url, user, phases = sys.argv[1], uuid.UUID(sys.argv[2]), sys.argv[3:]
    with psycopg.connect(url, prepare_threshold=0) as conn, psycopg.connect(url, prepare_threshold=0) as side:
        for phase in phases:
            seen = writes(conn, user, phase)
            seen["refused"] = rollback_and_refusal(side, user, phase)
            step(phase, **seen)


if __name__ == "__main__":
    main()
