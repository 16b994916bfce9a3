"""What the driver scripts share with tests/python_clients.rs.

A script runs in steps. After each it prints one JSON line, {"step": name,
...what it saw...}, and waits for the Rust test to answer "go" on stdin: in
between, the test checks the database directly and may flip the migration
phase. Any unexpected exception ends the script with a traceback on stderr
and a non-zero status, which fails the test.
"""

import json
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# The columns of todos a read compares, in the order canonical_rows() expects.
TODO_COLUMNS = (
    "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, "
    "ai_generated, tags, metadata, created_at, updated_at, completed_at"
)


def step(name, **seen):
    """Reports what this step saw and waits until the test says go on."""
    print(json.dumps({"step": name, **seen}), flush=True)
    answer = sys.stdin.readline().strip()
    if answer != "go":
        sys.exit(f"step {name}: expected 'go' from the test, got {answer!r}")


def micros(value):
    """A timestamptz as microseconds since the epoch (exact, unlike float seconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise AssertionError(f"timestamptz arrived without a time zone: {value!r}")
    return (value - EPOCH) // timedelta(microseconds=1)


def text(value):
    """A uuid (or text) as a string; None stays None."""
    return None if value is None else str(value)


def canonical_rows(rows):
    """Rows of TODO_COLUMNS, whatever the driver decoded them to, as JSON
    values the test compares with the same rows read directly: uuids as text,
    timestamps as microseconds, jsonb as its value; sorted by id."""
    out = []
    for r in rows:
        (id_, user_id, project_id, parent_todo_id, title, description, status, priority, due_date,
         ai_generated, tags, metadata, created_at, updated_at, completed_at) = tuple(r)
        if isinstance(metadata, (str, bytes)):
            # asyncpg hands jsonb over as its text unless told otherwise.
            metadata = json.loads(metadata)
        out.append({
            "id": text(id_),
            "user_id": text(user_id),
            "project_id": text(project_id),
            "parent_todo_id": text(parent_todo_id),
            "title": title,
            "description": description,
            "status": status,
            "priority": priority,
            "due_date": micros(due_date),
            "ai_generated": ai_generated,
            "tags": list(tags),
            "metadata": metadata,
            "created_at": micros(created_at),
            "updated_at": micros(updated_at),
            "completed_at": micros(completed_at),
        })
    out.sort(key=lambda row: row["id"])
    return out
