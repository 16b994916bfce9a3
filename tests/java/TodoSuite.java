import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.postgresql.PGConnection;
import org.postgresql.PGResultSetMetaData;
import org.postgresql.util.PGobject;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * The TodoList service layer on pgjdbc, one migration phase's worth of it,
 * reporting what it saw as JSON lines ({"step": NAME, OBSERVATION: VALUE, ...}).
 * tests/clients/java.rs runs it against a direct twin database and through
 * the proxy and compares the two transcripts. Every id is the app's own and
 * deterministic, so the runs line up.
 *
 * Usage: java -cp CLASSES:postgresql.jar TodoSuite PORT DATABASE PHASE
 */
public final class TodoSuite {
    static final String ADA = "00000000-0000-0000-0000-0000000000a1";
    static final String BOB = "00000000-0000-0000-0000-0000000000b2";
    /** Carol's todos are upserted and archived; no other step reads them. */
    static final String CAROL = "00000000-0000-0000-0000-0000000000c3";
    /** Dan's are the orphans of the foreign-key errors; no step reads them. */
    static final String DAN = "00000000-0000-0000-0000-0000000000d4";
    static final String LAUNCH = "00000000-0000-0000-0000-00000000c0de";
    static final String DOCS = "00000000-0000-0000-0000-00000000d0c5";
    static final String NOBODY = "00000000-0000-0000-0000-00000000dead";
    static final String COLUMNS = "id, user_id, project_id, parent_todo_id, title, description, status, priority, "
            + "due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at";
    static final String ORDER = "ORDER BY priority DESC, created_at DESC, id";

    final String phase;
    final int p;
    final Connection c;

    TodoSuite(String phase, Connection c) {
        this.phase = phase;
        this.p = List.of("legacy", "dual_write", "read_new", "write_new", "new_only").indexOf(phase) + 1;
        if (p == 0) throw new IllegalArgumentException("unknown phase " + phase);
        this.c = c;
    }

    /** The app's id number n in phase q. */
    static UUID id(int n, int q) {
        return UUID.fromString(String.format("00000000-0000-4000-8%d00-%012d", q, n));
    }

    UUID id(int n) {
        return id(n, p);
    }

    static UUID uuid(String s) {
        return UUID.fromString(s);
    }

    interface Sql {
        Object run() throws SQLException;
    }

    /** What a piece of the app saw: its result, or the server error with every field. */
    static Object observe(Sql sql) {
        try {
            return sql.run();
        } catch (PSQLException e) {
            return error(e);
        } catch (java.sql.BatchUpdateException e) {
            Map<String, Object> seen = new LinkedHashMap<>();
            seen.put("update_counts", e.getUpdateCounts());
            SQLException next = e.getNextException();
            seen.put("cause", next instanceof PSQLException pe ? error(pe) : String.valueOf(next));
            return seen;
        } catch (SQLException e) {
            throw new RuntimeException(e);
        }
    }

    static Map<String, Object> error(PSQLException e) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("sqlstate", e.getSQLState());
        ServerErrorMessage m = e.getServerErrorMessage();
        if (m != null) {
            fields.put("severity", m.getSeverity());
            fields.put("message", m.getMessage());
            fields.put("detail", m.getDetail());
            fields.put("hint", m.getHint());
            fields.put("position", m.getPosition());
            fields.put("internal_position", m.getInternalPosition());
            fields.put("internal_query", m.getInternalQuery());
            fields.put("where", m.getWhere());
            fields.put("schema", m.getSchema());
            fields.put("table", m.getTable());
            fields.put("column", m.getColumn());
            fields.put("datatype", m.getDatatype());
            fields.put("constraint", m.getConstraint());
        } else {
            fields.put("client_message", e.getMessage());
        }
        return Map.of("error", fields);
    }

    static Object value(Object v) throws SQLException {
        if (v instanceof Timestamp t) return t.toInstant().toString();
        if (v instanceof Array a) {
            List<Object> items = new ArrayList<>();
            for (Object item : (Object[]) a.getArray()) items.add(value(item));
            return items;
        }
        if (v instanceof PGobject o) return o.getType() + ":" + o.getValue();
        if (v instanceof UUID || v instanceof String || v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            return v;
        }
        return v == null ? null : v.getClass().getSimpleName() + ":" + v;
    }

    static List<Object> rows(ResultSet rs) throws SQLException {
        List<Object> rows = new ArrayList<>();
        ResultSetMetaData md = rs.getMetaData();
        while (rs.next()) {
            Map<String, Object> row = new LinkedHashMap<>();
            for (int i = 1; i <= md.getColumnCount(); i++) row.put(md.getColumnLabel(i), value(rs.getObject(i)));
            rows.add(row);
        }
        return rows;
    }

    /** What ResultSetMetaData tells of every column (pgjdbc asks the catalog by table OID for some). */
    static List<Object> metadata(ResultSetMetaData md) throws SQLException {
        PGResultSetMetaData pg = md.unwrap(PGResultSetMetaData.class);
        List<Object> columns = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            Map<String, Object> col = new LinkedHashMap<>();
            col.put("label", md.getColumnLabel(i));
            col.put("name", md.getColumnName(i));
            col.put("type", md.getColumnType(i));
            col.put("type_name", md.getColumnTypeName(i));
            col.put("class", md.getColumnClassName(i));
            col.put("table", md.getTableName(i));
            col.put("base_table", pg.getBaseTableName(i));
            col.put("base_column", pg.getBaseColumnName(i));
            col.put("base_schema", pg.getBaseSchemaName(i));
            col.put("nullable", md.isNullable(i));
            col.put("auto_increment", md.isAutoIncrement(i));
            col.put("precision", md.getPrecision(i));
            col.put("scale", md.getScale(i));
            col.put("display_size", md.getColumnDisplaySize(i));
            columns.add(col);
        }
        return columns;
    }

    static Map<String, Object> query(PreparedStatement ps, boolean withMetadata) throws SQLException {
        Map<String, Object> seen = new LinkedHashMap<>();
        try (ResultSet rs = ps.executeQuery()) {
            if (withMetadata) seen.put("metadata", metadata(rs.getMetaData()));
            seen.put("rows", rows(rs));
        }
        return seen;
    }

    PreparedStatement prepare(String sql, Object... params) throws SQLException {
        PreparedStatement ps = c.prepareStatement(sql);
        for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
        return ps;
    }

    /**
     * observe(), isolated by a savepoint inside a transaction: a statement
     * that fails does not abort the statements after it.
     */
    Object guarded(Sql sql) {
        if (autoCommit()) return observe(sql);
        return observe(() -> {
            java.sql.Savepoint sp = c.setSavepoint();
            try {
                Object seen = sql.run();
                c.releaseSavepoint(sp);
                return seen;
            } catch (SQLException e) {
                c.rollback(sp);
                throw e;
            }
        });
    }

    boolean autoCommit() {
        try {
            return c.getAutoCommit();
        } catch (SQLException e) {
            throw new RuntimeException(e);
        }
    }

    Object select(boolean withMetadata, String sql, Object... params) {
        return guarded(() -> {
            try (PreparedStatement ps = prepare(sql, params)) {
                return query(ps, withMetadata);
            }
        });
    }

    Object update(String sql, Object... params) {
        return guarded(() -> {
            try (PreparedStatement ps = prepare(sql, params)) {
                return ps.executeUpdate();
            }
        });
    }

    static void report(String step, Map<String, Object> seen) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", step);
        line.putAll(seen);
        System.out.println(Json.write(line));
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/" + args[1];
        String phase = args[2];
        Properties props = new Properties();
        props.setProperty("user", "postgres");
        try (Connection c = DriverManager.getConnection(url, props);
                Connection other = DriverManager.getConnection(url, props)) {
            Properties rewrite = new Properties();
            rewrite.putAll(props);
            rewrite.setProperty("reWriteBatchedInserts", "true");
            try (Connection rewritten = DriverManager.getConnection(url, rewrite)) {
                new Steps(new TodoSuite(phase, c), other, rewritten).all();
            }
        }
    }
}
