//! The upsert sequence: upserts by id of archived, active and new todos. The
//! conflict target is the legacy key wherever the row lives in the new
//! tables, so each must find the row in todos_active or todos_archived.

use super::{form, WriteForm};
use crate::support::fixture::{t, u, U1, V};

pub fn forms() -> Vec<WriteForm> {
    use V::*;
    vec![
        form(
            "upsert of an archived todo with DO NOTHING does nothing",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'again') ON CONFLICT (id) DO NOTHING RETURNING id, status",
            vec![Id(t(6)), Id(u(U1))],
        ),
        form(
            "ON CONFLICT DO NOTHING without a target skips an archived todo and inserts a new one",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'again'), ($3, $2, 'fresh') ON CONFLICT DO NOTHING",
            vec![Id(t(5)), Id(u(U1)), Id(t(60))],
        ),
        form(
            "upsert of an archived todo whose DO UPDATE WHERE rejects it changes nothing",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title WHERE todos.priority > 100 RETURNING *",
            vec![Id(t(6)), Id(u(U1)), Text("nope")],
        ),
        form(
            "upsert of an archived todo updates it in the archive, still done",
            "INSERT INTO todos AS t (id, user_id, title) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, description = t.description || ' (again)' RETURNING *",
            vec![Id(t(6)), Id(u(U1)), Text("Old subtask (upserted)")],
        ),
        form(
            "upsert of an archived todo without RETURNING counts the updated row",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, 'x', 4) \
             ON CONFLICT (id) DO UPDATE SET priority = EXCLUDED.priority WHERE todos.status = 'done'",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert of an active todo proposed under another user updates the owner's row",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'other user') \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title RETURNING id, user_id, title",
            vec![Id(t(4)), Id(u(U1))],
        ),
        form(
            "upsert reopening an archived todo moves it to todos_active, beside a new row",
            "INSERT INTO todos (id, user_id, title, status) VALUES ($1, $2, 'reopened', 'todo'), ($3, $2, 'brand new', 'todo') \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, completed_at = NULL \
             RETURNING id, title, status, completed_at, updated_at",
            vec![Id(t(6)), Id(u(U1)), Id(t(61))],
        ),
        form(
            "upsert reopening an archived todo with DO UPDATE SET col = DEFAULT",
            "INSERT INTO todos (id, user_id, title, status) VALUES ($1, $2, 'reopened', 'todo') \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, completed_at = NULL, priority = DEFAULT \
             RETURNING id, status, priority",
            vec![Id(t(6)), Id(u(U1))],
        ),
        form(
            "upsert proposing one id twice fails as on legacy",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'a'), ($1, $2, 'b') \
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert with a NULL title fails before the conflict check",
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, NULL) ON CONFLICT (id) DO UPDATE SET priority = 1",
            vec![Id(t(5)), Id(u(U1))],
        ),
        form(
            "upsert of new and active ids by id",
            "INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, 'upsert new', 1), ($3, $2, 'upsert active', 8) \
             ON CONFLICT (id) DO UPDATE SET priority = todos.priority + EXCLUDED.priority RETURNING id, title, priority",
            vec![Id(t(62)), Id(u(U1)), Id(t(1))],
        ),
    ]
}
