import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.postgresql.PGConnection;

/** The service layer's steps, in the order TodoSuite reports them. */
final class Steps {
    final TodoSuite s;
    final Connection c;
    final Connection other;
    final Connection rewritten;
    final String phase;

    Steps(TodoSuite s, Connection other, Connection rewritten) {
        this.s = s;
        this.c = s.c;
        this.other = other;
        this.rewritten = rewritten;
        this.phase = s.phase;
    }

    void all() throws SQLException {
        session();
        create();
        list();
        changes();
        hierarchy();
        upsert();
        locking();
        cursors();
        batches();
        transaction();
        remove();
        errors();
        last();
    }

    static final String INSERT_TODO = "INSERT INTO todos (id, user_id, project_id, parent_todo_id, title, description, "
            + "priority, due_date, ai_generated, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

    void session() throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            seen.put("backend_pid_matches", rs.getInt(1) == c.unwrap(PGConnection.class).getBackendPID());
        }
        TodoSuite.report("session", seen);
    }

    void create() throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        c.setAutoCommit(false);
        // The root: RETURNING * through getGeneratedKeys.
        seen.put("root", s.guarded(() -> {
            try (PreparedStatement ps = c.prepareStatement(INSERT_TODO, Statement.RETURN_GENERATED_KEYS)) {
                bindTodo(ps, s.id(1), TodoSuite.ADA, TodoSuite.LAUNCH, null, "ship " + phase, "the release", 5,
                        Timestamp.from(Instant.parse("2035-03-01T09:00:00Z")), false, new String[] {"work", phase});
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("count", ps.executeUpdate());
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    r.put("keys_metadata", TodoSuite.metadata(keys.getMetaData()));
                    r.put("keys", TodoSuite.rows(keys));
                }
                return r;
            }
        }));
        // Seven subtasks through one PreparedStatement: past prepareThreshold (5)
        // pgjdbc switches to a named server-side statement.
        seen.put("subtasks", s.guarded(() -> {
            List<Object> counts = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(INSERT_TODO, new String[] {"id", "status", "created_at"})) {
                for (int k = 0; k < 7; k++) {
                    bindTodo(ps, s.id(2 + k), TodoSuite.ADA, TodoSuite.LAUNCH, s.id(1), "step " + k + " of " + phase,
                            null, k, null, true, new String[] {"ai"});
                    int n = ps.executeUpdate();
                    try (ResultSet keys = ps.getGeneratedKeys()) {
                        counts.add(Map.of("count", n, "keys", TodoSuite.rows(keys)));
                    }
                }
                if (!ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare()) {
                    throw new IllegalStateException("seven executions did not reach prepareThreshold");
                }
            }
            return counts;
        }));
        c.commit();
        c.setAutoCommit(true);
        List<Object> more = new ArrayList<>();
        Object[][] todos = {
            {20, TodoSuite.ADA, TodoSuite.DOCS, "write docs " + phase, 3, "todo"},
            {21, TodoSuite.ADA, null, "review " + phase, 3, "in_progress"},
            {22, TodoSuite.BOB, null, "bob's " + phase, 1, "todo"},
            {23, TodoSuite.CAROL, null, "old chore " + phase, 0, "todo"},
        };
        for (Object[] t : todos) {
            more.add(s.update("INSERT INTO todos (id, user_id, project_id, title, priority, status) VALUES (?, ?, ?, ?, ?, ?)",
                    s.id((Integer) t[0]), TodoSuite.uuid((String) t[1]), t[2] == null ? null : TodoSuite.uuid((String) t[2]),
                    t[3], t[4], t[5]));
        }
        seen.put("more", more);
        // A server-generated id (compared by position in the transcript).
        seen.put("default_id", TodoSuite.observe(() -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO todos (user_id, title) VALUES (?, 'no id given')",
                    new String[] {"id", "title", "status", "priority", "tags"})) {
                ps.setObject(1, TodoSuite.uuid(TodoSuite.BOB));
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("count", ps.executeUpdate());
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    r.put("keys_metadata", TodoSuite.metadata(keys.getMetaData()));
                    r.put("keys", TodoSuite.rows(keys));
                }
                return r;
            }
        }));
        // Deleted at once: lists ordered by id would order random ids differently in the two runs.
        seen.put("default_id_deleted", s.update("DELETE FROM todos WHERE user_id = ? AND title = 'no id given'",
                TodoSuite.uuid(TodoSuite.BOB)));
        TodoSuite.report("create", seen);
    }

    void bindTodo(PreparedStatement ps, UUID id, String user, String project, UUID parent, String title, String description,
            int priority, Timestamp due, boolean ai, String[] tags) throws SQLException {
        ps.setObject(1, id);
        ps.setObject(2, TodoSuite.uuid(user));
        ps.setObject(3, project == null ? null : TodoSuite.uuid(project), Types.OTHER);
        ps.setObject(4, parent, Types.OTHER);
        ps.setString(5, title);
        ps.setString(6, description);
        ps.setInt(7, priority);
        ps.setTimestamp(8, due);
        ps.setBoolean(9, ai);
        ps.setArray(10, c.createArrayOf("text", tags));
    }

    void list() {
        Map<String, Object> seen = new LinkedHashMap<>();
        UUID ada = TodoSuite.uuid(TodoSuite.ADA);
        String page = "SELECT id, title, status, priority FROM todos WHERE user_id = ? " + TodoSuite.ORDER + " LIMIT ? OFFSET ?";
        // The same query seven times: the later pages run a named server-side statement.
        List<Object> pages = new ArrayList<>();
        pages.add(s.select(true, page, ada, 4, 0));
        pages.add(TodoSuite.observe(() -> {
            List<Object> more = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(page)) {
                for (int n = 1; n < 7; n++) {
                    ps.setObject(1, ada);
                    ps.setInt(2, 4);
                    ps.setInt(3, 4 * n);
                    more.add(TodoSuite.query(ps, n == 6));
                }
            }
            return more;
        }));
        seen.put("pages", pages);
        seen.put("total", s.select(true, "SELECT count(*) AS total FROM todos WHERE user_id = ?", ada));
        seen.put("by_status_and_project", s.select(false, "SELECT id, title FROM todos WHERE user_id = ? AND status = ? "
                + "AND project_id = ? " + TodoSuite.ORDER, ada, "todo", TodoSuite.uuid(TodoSuite.LAUNCH)));
        seen.put("due_before", s.select(true, "SELECT id, title, due_date FROM todos WHERE user_id = ? AND due_date < ? "
                + TodoSuite.ORDER, ada, Timestamp.from(Instant.parse("2036-01-01T00:00:00Z"))));
        seen.put("all_columns", s.select(true, "SELECT * FROM todos WHERE id = ?", s.id(20)));
        seen.put("joined", s.select(true, "SELECT t.id, t.title, p.name AS project, u.email FROM todos t "
                + "JOIN users u ON u.id = t.user_id LEFT JOIN projects p ON p.id = t.project_id WHERE t.user_id = ? "
                + "ORDER BY t.priority DESC, t.created_at DESC, t.id LIMIT 5", ada));
        TodoSuite.report("list", seen);
    }

    void changes() {
        Map<String, Object> status = new LinkedHashMap<>();
        status.put("one", s.update("UPDATE todos SET status = ? WHERE id = ?", "in_progress", s.id(20)));
        status.put("none", s.update("UPDATE todos SET status = ? WHERE id = ?", "in_progress", TodoSuite.uuid(TodoSuite.NOBODY)));
        status.put("several", s.update("UPDATE todos SET status = 'in_progress' WHERE parent_todo_id = ? AND priority < 3", s.id(1)));
        TodoSuite.report("change_status", status);
        Map<String, Object> complete = new LinkedHashMap<>();
        complete.put("one", s.update("UPDATE todos SET status = 'done', completed_at = now() WHERE id = ?", s.id(21)));
        complete.put("returning", s.select(true,
                "UPDATE todos SET status = 'done', completed_at = now() WHERE id = ? RETURNING id, status, completed_at", s.id(8)));
        // Done long ago: the daily maintenance archives it before read_new.
        complete.put("long_ago", s.update("UPDATE todos SET status = 'done', completed_at = '2020-01-15T00:00:00Z' WHERE id = ?",
                s.id(23)));
        TodoSuite.report("complete", complete);
        Map<String, Object> edit = new LinkedHashMap<>();
        edit.put("edit", TodoSuite.observe(() -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE todos SET title = ?, description = ?, tags = ?, "
                    + "metadata = ?::jsonb, due_date = ?, priority = ? WHERE id = ?")) {
                ps.setString(1, "docs, edited " + phase);
                ps.setString(2, "longer");
                ps.setArray(3, c.createArrayOf("text", new String[] {"docs", "edited"}));
                ps.setString(4, "{\"edited\": true, \"phase\": \"" + phase + "\"}");
                ps.setTimestamp(5, Timestamp.from(Instant.parse("2035-06-30T12:00:00Z")));
                ps.setInt(6, 4);
                ps.setObject(7, s.id(20));
                return ps.executeUpdate();
            }
        }));
        edit.put("returning_all", s.select(true, "UPDATE todos SET title = title || '!' WHERE id = ? RETURNING "
                + TodoSuite.COLUMNS, s.id(20)));
        edit.put("missing", s.update("UPDATE todos SET title = ? WHERE id = ?", "nothing", TodoSuite.uuid(TodoSuite.NOBODY)));
        edit.put("fresh", s.select(false, "SELECT updated_at > created_at AS touched FROM todos WHERE id = ?", s.id(20)));
        TodoSuite.report("edit", edit);
    }

    void hierarchy() {
        String walk = "WITH RECURSIVE tree AS ("
                + " SELECT id, parent_todo_id, title, 0 AS level FROM todos WHERE id = ?"
                + " UNION ALL SELECT t.id, t.parent_todo_id, t.title, tree.level + 1 FROM todos t JOIN tree ON t.parent_todo_id = tree.id)"
                + " SELECT * FROM tree ORDER BY level, id";
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("own", s.select(true, walk, s.id(1)));
        seen.put("from_legacy_phase", s.select(false, walk, TodoSuite.id(1, 1)));
        TodoSuite.report("hierarchy", seen);
    }

    void upsert() {
        String sql = "INSERT INTO todos (id, user_id, title, priority) VALUES (?, ?, ?, ?) "
                + "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority";
        UUID carol = TodoSuite.uuid(TodoSuite.CAROL);
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("insert", s.update(sql, s.id(30), carol, "upserted " + phase, 1));
        seen.put("update", s.update(sql, s.id(30), carol, "upserted again " + phase, 2));
        seen.put("returning", s.select(true, sql + " RETURNING id, title, priority, status", s.id(30), carol, "third " + phase, 3));
        seen.put("do_nothing", s.update("INSERT INTO todos (id, user_id, title) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                s.id(30), carol, "ignored"));
        // The todo the legacy phase completed long ago (archived from read_new on).
        if (s.p > 1) seen.put("archived", s.update(sql, TodoSuite.id(23, 1), carol, "old chore, renamed in " + phase, 0));
        seen.put("carols_todos", s.select(false, "SELECT id, title, status FROM todos WHERE user_id = ? ORDER BY id, status", carol));
        TodoSuite.report("upsert", seen);
    }

    void locking() throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        UUID ada = TodoSuite.uuid(TodoSuite.ADA);
        other.setAutoCommit(false);
        seen.put("held", TodoSuite.observe(() -> {
            try (PreparedStatement ps = other.prepareStatement("SELECT id FROM todos WHERE id = ? FOR UPDATE")) {
                ps.setObject(1, s.id(2));
                return TodoSuite.query(ps, false);
            }
        }));
        c.setAutoCommit(false);
        seen.put("for_update", s.select(true, "SELECT id, title FROM todos WHERE id = ? FOR UPDATE", s.id(3)));
        seen.put("skip_locked", s.select(false, "SELECT id FROM todos WHERE parent_todo_id = ? ORDER BY priority, id "
                + "LIMIT ? FOR UPDATE SKIP LOCKED", s.id(1), 2));
        seen.put("no_key_update", s.select(false, "SELECT id, priority FROM todos WHERE user_id = ? " + TodoSuite.ORDER
                + " LIMIT 1 OFFSET 1 FOR NO KEY UPDATE", ada));
        seen.put("nowait", s.select(false, "SELECT id FROM todos WHERE id = ? FOR UPDATE NOWAIT", s.id(2)));
        seen.put("share", s.select(false, "SELECT t.id FROM todos t WHERE t.id = ? FOR SHARE OF t", s.id(20)));
        c.commit();
        c.setAutoCommit(true);
        other.rollback();
        other.setAutoCommit(true);
        TodoSuite.report("locking", seen);
    }

    void cursors() throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        c.setAutoCommit(false);
        // setFetchSize in a transaction: pgjdbc reads a portal three rows at a time.
        seen.put("fetch_size", s.guarded(() -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT id, title FROM todos WHERE user_id = ? ORDER BY id")) {
                ps.setFetchSize(3);
                ps.setObject(1, TodoSuite.uuid(TodoSuite.ADA));
                return TodoSuite.query(ps, true);
            }
        }));
        seen.put("declare", s.update("DECLARE todo_walk SCROLL CURSOR FOR SELECT id, title FROM todos WHERE user_id = ? ORDER BY id",
                TodoSuite.uuid(TodoSuite.ADA)));
        seen.put("fetch", s.select(true, "FETCH 3 FROM todo_walk"));
        seen.put("fetch_prior", s.select(false, "FETCH PRIOR FROM todo_walk"));
        seen.put("close", s.update("CLOSE todo_walk"));
        c.commit();
        c.setAutoCommit(true);
        TodoSuite.report("cursor", seen);
    }

    /** The same batch of inserts and updates on a connection without and with reWriteBatchedInserts. */
    Map<String, Object> batch(Connection conn, int first) {
        Map<String, Object> seen = new LinkedHashMap<>();
        UUID ada = TodoSuite.uuid(TodoSuite.ADA);
        seen.put("insert", TodoSuite.observe(() -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO todos (id, user_id, title, priority) VALUES (?, ?, ?, ?)")) {
                for (int k = 0; k < 5; k++) {
                    ps.setObject(1, s.id(first + k));
                    ps.setObject(2, ada);
                    ps.setString(3, "batch " + (first + k) + " " + phase);
                    ps.setInt(4, k);
                    ps.addBatch();
                }
                return ps.executeBatch();
            }
        }));
        seen.put("update", TodoSuite.observe(() -> {
            try (PreparedStatement ps = conn.prepareStatement("UPDATE todos SET priority = priority + ? WHERE id = ?")) {
                for (int k = 0; k < 5; k++) {
                    ps.setInt(1, 10);
                    ps.setObject(2, s.id(first + k));
                    ps.addBatch();
                }
                ps.setInt(1, 1);
                ps.setObject(2, TodoSuite.uuid(TodoSuite.NOBODY));
                ps.addBatch();
                return ps.executeBatch();
            }
        }));
        seen.put("failing", TodoSuite.observe(() -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO todos (id, user_id, title) VALUES (?, ?, ?)")) {
                for (int k = 0; k < 3; k++) {
                    ps.setObject(1, s.id(first + 10 + k));
                    ps.setObject(2, k == 1 ? TodoSuite.uuid(TodoSuite.NOBODY) : ada);
                    ps.setString(3, "doomed " + k);
                    ps.addBatch();
                }
                return ps.executeBatch();
            }
        }));
        seen.put("delete", s.update("DELETE FROM todos WHERE id IN (?, ?) ", s.id(first), s.id(first + 1)));
        return seen;
    }

    void batches() {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("plain", batch(c, 40));
        seen.put("rewritten", batch(rewritten, 60));
        TodoSuite.report("batch", seen);
    }

    void transaction() throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        UUID ada = TodoSuite.uuid(TodoSuite.ADA);
        c.setAutoCommit(false);
        seen.put("insert", s.update("INSERT INTO todos (id, user_id, title) VALUES (?, ?, ?)", s.id(80), ada, "rolled back"));
        seen.put("failing", s.update("INSERT INTO todos (id, user_id, title) VALUES (?, ?, ?)", s.id(80), ada, "duplicate"));
        seen.put("update", s.update("UPDATE todos SET title = 'in the transaction' WHERE user_id = ? AND status = 'todo'", ada));
        c.rollback();
        c.setAutoCommit(true);
        seen.put("after", s.select(false, "SELECT count(*) AS n FROM todos WHERE id = ? OR title = ?", s.id(80), "in the transaction"));
        TodoSuite.report("transaction", seen);
    }

    void remove() {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("root", s.update("DELETE FROM todos WHERE id = ?", s.id(1)));
        seen.put("children_left", s.select(false, "SELECT count(*) AS n FROM todos WHERE parent_todo_id = ? OR id = ?", s.id(1), s.id(1)));
        seen.put("returning", s.select(true, "DELETE FROM todos WHERE id = ? RETURNING id, title", s.id(22)));
        seen.put("none", s.update("DELETE FROM todos WHERE id = ?", TodoSuite.uuid(TodoSuite.NOBODY)));
        TodoSuite.report("delete", seen);
    }

    void errors() {
        String insert = "INSERT INTO todos (id, user_id, parent_todo_id, title, status) VALUES (?, ?, ?, ?, ?)";
        UUID ada = TodoSuite.uuid(TodoSuite.ADA);
        UUID nobody = TodoSuite.uuid(TodoSuite.NOBODY);
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("foreign_key_user", s.update(insert, s.id(90), nobody, null, "orphan", "todo"));
        seen.put("foreign_key_parent", s.update(insert, s.id(91), TodoSuite.uuid(TodoSuite.DAN), nobody, "orphan child", "todo"));
        seen.put("check", s.update(insert, s.id(92), ada, null, "bad status", "bogus"));
        seen.put("not_null", s.update(insert, s.id(93), ada, null, null, "todo"));
        seen.put("unique", s.update(insert, s.id(20), ada, null, "duplicate", "todo"));
        seen.put("too_long", s.update(insert, s.id(94), ada, null, "x".repeat(501), "todo"));
        seen.put("update_check", s.update("UPDATE todos SET status = 'archived' WHERE id = ?", s.id(20)));
        seen.put("bad_uuid", s.select(false, "SELECT id FROM todos WHERE id = ?::uuid", "not-a-uuid"));
        seen.put("undefined_column", s.select(false, "SELECT id, titel FROM todos WHERE user_id = ?", ada));
        seen.put("syntax", s.select(false, "SELECT id FROM todos WHERE user_id = ? ORDER BY", ada));
        seen.put("ambiguous", s.select(false, "SELECT t.id FROM todos t JOIN projects p ON p.id = t.project_id "
                + "WHERE t.user_id = ? ORDER BY created_at", ada));
        seen.put("statement", TodoSuite.observe(() -> {
            try (Statement st = c.createStatement()) {
                return st.executeUpdate("INSERT INTO todos (id, user_id, title) VALUES ('" + s.id(95) + "', '" + nobody + "', 'simple')");
            }
        }));
        TodoSuite.report("errors", seen);
    }

    void last() {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("rows", s.select(true, "SELECT " + TodoSuite.COLUMNS + " FROM todos WHERE user_id IN (?, ?) ORDER BY id",
                TodoSuite.uuid(TodoSuite.ADA), TodoSuite.uuid(TodoSuite.BOB)));
        TodoSuite.report("final", seen);
    }
}
