"""psycopg2 through the proxy: the simple query protocol only, parameters
interpolated into the SQL text by the driver (client side).

Usage: psycopg2_client.py legacy|dual_write PROXY_URL USER_ID
Driven step by step by tests/python_clients.rs (see steps.py).
"""

import io
import sys

import psycopg2
import psycopg2.extras

from steps import TODO_COLUMNS, canonical_rows, step


def error_of(run):
    """Runs `run`; reports the server error it raises (None when it does not)."""
    try:
        run()
    except psycopg2.Error as e:
        return {"pgcode": e.pgcode, "message": (e.diag.message_primary or str(e))}
    return None


def todos(cur):
    cur.execute(f"SELECT {TODO_COLUMNS} FROM todos")
    return canonical_rows(cur.fetchall())


def legacy(conn, user):
    cur = conn.cursor()
    cur.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL UNIQUE, tags text[] NOT NULL)")
    bodies = ["it's a note", "ünïcödé; DROP TABLE notes; --", "back\\slash"]
    ids = []
    for body in bodies:
        cur.execute("INSERT INTO notes (body, tags) VALUES (%s, %s) RETURNING id", (body, ["a", "b c"]))
        ids.append(cur.fetchone()[0])
    conn.commit()
    cur.execute("SELECT body, tags FROM notes ORDER BY id")
    selected = [[body, tags] for body, tags in cur.fetchall()]

    cur.execute("INSERT INTO notes (body, tags) VALUES (%s, %s)", ("ghost", []))
    cur.execute("UPDATE notes SET body = body || '!'")
    updated_in_tx = cur.rowcount
    conn.rollback()
    cur.execute("SELECT count(*), count(*) FILTER (WHERE body LIKE '%%!') FROM notes")
    after_rollback = list(cur.fetchone())

    # A server error passes through with its SQLSTATE, and the connection recovers.
    duplicate = error_of(lambda: cur.execute("INSERT INTO notes (body, tags) VALUES (%s, '{}')", (bodies[0],)))
    conn.rollback()

    # In legacy nothing touching todos is rewritten, mirrored or refused.
    cur.execute(
        "INSERT INTO todos (user_id, title) VALUES (%s, %s), (%s, %s) RETURNING id",
        (user, "legacy one", user, "legacy two"),
    )
    todo_ids = [str(r[0]) for r in cur.fetchall()]
    comment = error_of(lambda: cur.execute("COMMENT ON TABLE todos IS 'commented through psycopg2'"))
    conn.commit()
    cur.execute("SELECT 1")
    step(
        "legacy",
        note_ids=ids,
        selected=selected,
        updated_in_tx=updated_in_tx,
        after_rollback=after_rollback,
        duplicate=duplicate,
        todo_ids=todo_ids,
        comment=comment,
        usable=cur.fetchone()[0] == 1,
    )


def dual_write(conn, user):
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO todos (user_id, title, priority, tags, metadata) VALUES "
        "(%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s) RETURNING id",
        (
            user, "it's one", 1, ["home", "o'clock"], psycopg2.extras.Json({"source": "psycopg2", "n": 1}),
            user, "two", 2, [], None,
            user, "three", 3, ["x"], psycopg2.extras.Json({"nested": {"list": [1, 2, None]}}),
        ),
    )
    inserted = cur.rowcount
    ids = [str(r[0]) for r in cur.fetchall()]
    conn.commit()
    cur.execute(
        "UPDATE todos SET status = 'done', completed_at = now() WHERE id = ANY(%s::uuid[])", (ids[:2],)
    )
    updated = cur.rowcount
    cur.execute("UPDATE todos SET priority = priority + 10 WHERE title = %s", ("no such title",))
    updated_none = cur.rowcount
    cur.execute("DELETE FROM todos WHERE id = %s", (ids[2],))
    deleted = cur.rowcount
    conn.commit()
    step("writes", ids=ids, inserted=inserted, updated=updated, updated_none=updated_none, deleted=deleted,
         read=todos(cur))

    cur.execute("INSERT INTO todos (user_id, title) VALUES (%s, 'ghost')", (user,))
    cur.execute("UPDATE todos SET priority = 99")
    updated_in_tx = cur.rowcount
    cur.execute("DELETE FROM todos WHERE id = %s", (ids[0],))
    deleted_in_tx = cur.rowcount
    conn.rollback()
    step("rolled_back", updated_in_tx=updated_in_tx, deleted_in_tx=deleted_in_tx, read=todos(cur))

    refused = {}
    for sql in ["TRUNCATE todos", "ALTER TABLE todos ADD COLUMN x int", "COPY todos FROM STDIN"]:
        if sql.startswith("COPY"):
            data = io.StringIO(f"00000000-0000-0000-0000-0000000000ff\t{user}\n")
            refused[sql] = error_of(lambda: cur.copy_expert(sql, data))
        else:
            refused[sql] = error_of(lambda: cur.execute(sql))
        conn.rollback()
        cur.execute("SELECT count(*) FROM todos")
        refused[sql]["count_after"] = cur.fetchone()[0]

    # A named (server-side) cursor is DECLARE ... CURSOR, then FETCH FORWARD
    # itersize at a time, then CLOSE: its query is planned like any read.
    named = conn.cursor(name="stream_todos")
    named.itersize = 1
    named.execute(f"SELECT {TODO_COLUMNS} FROM todos")
    streamed = canonical_rows(list(named))
    named.close()
    conn.rollback()

    # Inside a transaction: the refusal aborts it, like any failed statement,
    # and the write before it is rolled back with it.
    cur.execute("INSERT INTO todos (user_id, title) VALUES (%s, 'before the refusal')", (user,))
    in_tx = error_of(lambda: cur.execute("TRUNCATE todos"))
    aborted = error_of(lambda: cur.execute("SELECT 1"))
    conn.rollback()

    # In autocommit the next statement needs no rollback.
    conn.autocommit = True
    autocommit = error_of(lambda: cur.execute("TRUNCATE todos"))
    cur.execute("SELECT count(*) FROM todos WHERE user_id = %s", (user,))
    count_autocommit = cur.fetchone()[0]
    step("refused", refused=refused, in_tx=in_tx, aborted=aborted, autocommit=autocommit,
         count_autocommit=count_autocommit, streamed=streamed, read=todos(cur))


def main():
    scenario, url, user = sys.argv[1:4]
    conn = psycopg2.connect(url)
    try:
        {"legacy": legacy, "dual_write": dual_write}[scenario](conn, user)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
