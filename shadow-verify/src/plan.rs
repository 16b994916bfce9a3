//! The SQL the verifier runs, built from the column list and compared in
//! one snapshot (docs/verify.md).
//!
//! Everything here is pure string building, so the proxy's shadow reads and
//! the phase guard can reuse the exact statements the verifier trusts, and so
//! tests can read them. Every comparison is ONE statement: PostgreSQL gives a
//! statement one snapshot (also under READ COMMITTED; the WITH parts share
//! it), so writes that commit to both schemas at once cannot show up as a
//! difference.
//!
//! Rows are compared through their text form, `ROW(<legacy columns>)::text`:
//! the chunk hash is `sum(hashtextextended(row_text, 0))` (order-independent,
//! a duplicated or missing row changes it) and the drill-down compares each
//! column's `::text`. Both sides are formatted by the same session, so time
//! zones and jsonb normalisation agree.

/// The legacy `todos` columns (control/src/legacy/schema.sql), in table order. The new tables hold
/// every one of them (plus `depth`, and `archived_at` for archived rows).
pub const LEGACY_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "project_id",
    "parent_todo_id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "ai_generated",
    "tags",
    "metadata",
    "created_at",
    "updated_at",
    "completed_at",
];

/// The tables compared and the columns compared over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The legacy table (`todos`).
    pub legacy: String,
    /// The new table for live rows (`todos_active`).
    pub active: String,
    /// The new table for archived rows (`todos_archived`), CHECK status = 'done'.
    pub archived: String,
    /// The columns compared; the first one is the key (`id`, a uuid).
    pub columns: Vec<String>,
    /// Days after completion when a done todo is due for archival (docs/invariants.md, "A todo is archived").
    pub retention_days: u32,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            legacy: "todos".into(),
            active: "todos_active".into(),
            archived: "todos_archived".into(),
            columns: LEGACY_COLUMNS.iter().map(|c| (*c).to_string()).collect(),
            retention_days: 30,
        }
    }
}

/// Session settings for the depth check's transaction (`SET LOCAL`): memory
/// for joining the narrow image of every new row with itself, and no nested
/// loops (a partitioned table has no index on `id` alone).
pub const DEPTH_CHECK_SETTINGS: &str = "SET LOCAL work_mem = '256MB'; SET LOCAL enable_nestloop = off";

/// Quotes an identifier for SQL (`todos` -> `"todos"`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL (standard_conforming_strings on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Spec {
    fn key(&self) -> String {
        quote_ident(self.columns.first().map(String::as_str).unwrap_or("id"))
    }

    /// `"id", "user_id", ...`, optionally qualified by `alias`.
    pub fn column_list(&self, alias: Option<&str>) -> String {
        self.columns
            .iter()
            .map(|c| match alias {
                Some(a) => format!("{a}.{}", quote_ident(c)),
                None => quote_ident(c),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The text form of a row over the compared columns.
    fn row_text(&self, alias: Option<&str>) -> String {
        format!("ROW({})::text", self.column_list(alias))
    }

    /// The order-independent hash aggregate of a set of rows.
    fn hash_agg(&self) -> String {
        format!("coalesce(sum(hashtextextended({}, 0)), 0)", self.row_text(None))
    }

    /// The key range every chunk statement filters on: `$1` and `$2` are
    /// uuids, both inclusive (see [`crate::chunks`]).
    fn in_range(&self) -> String {
        format!("{} BETWEEN $1 AND $2", self.key())
    }

    fn retention(&self) -> String {
        format!("now() - interval '{} days'", self.retention_days)
    }

    /// The new schema as one relation with the legacy column list: what a read
    /// of `todos` becomes in the new schema (docs/rewriter.md).
    pub fn new_relation(&self) -> String {
        let cols = self.column_list(None);
        format!(
            "(SELECT {cols} FROM {} UNION ALL SELECT {cols} FROM {})",
            quote_ident(&self.active),
            quote_ident(&self.archived)
        )
    }

    /// Compares one key range `[$1, $2]` in one statement. Returns one row:
    /// `matched bool, legacy_rows bigint, active_rows bigint, archived_rows
    /// bigint, archived_not_done bigint, not_yet_archived bigint,
    /// archived_early bigint`. `matched` is true when the legacy rows and the
    /// union of the new tables have the same count and the same hash.
    pub fn chunk_compare_sql(&self) -> String {
        let h = self.hash_agg();
        let r = self.in_range();
        let ret = self.retention();
        format!(
            "WITH l AS (SELECT count(*) AS n, {h} AS h FROM {legacy} WHERE {r}), \
             a AS (SELECT count(*) AS n, {h} AS h, \
                   count(*) FILTER (WHERE status = 'done' AND completed_at < {ret}) AS overdue \
                   FROM {active} WHERE {r}), \
             z AS (SELECT count(*) AS n, {h} AS h, \
                   count(*) FILTER (WHERE status IS DISTINCT FROM 'done') AS not_done, \
                   count(*) FILTER (WHERE completed_at IS NULL OR completed_at >= {ret}) AS early \
                   FROM {archived} WHERE {r}) \
             SELECT (l.n = a.n + z.n AND l.h = a.h + z.h) AS matched, \
                    l.n AS legacy_rows, a.n AS active_rows, z.n AS archived_rows, \
                    z.not_done AS archived_not_done, a.overdue AS not_yet_archived, z.early AS archived_early \
             FROM l, a, z",
            legacy = quote_ident(&self.legacy),
            active = quote_ident(&self.active),
            archived = quote_ident(&self.archived),
        )
    }

    /// Drills one key range `[$1, $2]` down to rows, in one statement. Returns
    /// every row that is off: `id text, in_legacy bool, new_table text (NULL
    /// when missing in new), new_status text, differs bool[]` where `differs`
    /// has one entry per compared column (meaningful when the row is on both
    /// sides). A row is off when it is on one side only, when its id is more
    /// than once in the new tables, when it sits in the archived table without
    /// being done, or when its text form differs.
    pub fn chunk_drill_sql(&self) -> String {
        let r = self.in_range();
        let cols = self.column_list(None);
        let differs = self
            .columns
            .iter()
            .map(|c| {
                let c = quote_ident(c);
                format!("l.{c}::text IS DISTINCT FROM n.{c}::text")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let key = self.key();
        format!(
            "WITH l AS (SELECT {cols} FROM {legacy} WHERE {r}), \
             n AS (SELECT u.*, count(*) OVER (PARTITION BY u.{key}) AS sy_copies FROM ( \
                   SELECT {cols}, {active_lit}::text AS sy_table FROM {active} WHERE {r} \
                   UNION ALL SELECT {cols}, {archived_lit}::text FROM {archived} WHERE {r}) u) \
             SELECT coalesce(l.{key}, n.{key})::text AS id, l.{key} IS NOT NULL AS in_legacy, \
                    n.sy_table AS new_table, n.status::text AS new_status, ARRAY[{differs}] AS differs \
             FROM l FULL JOIN n ON n.{key} = l.{key} \
             WHERE l.{key} IS NULL OR n.{key} IS NULL OR n.sy_copies > 1 \
                OR (n.sy_table = {archived_lit} AND n.status IS DISTINCT FROM 'done') \
                OR {lrow} IS DISTINCT FROM {nrow} \
             ORDER BY 1, 3",
            legacy = quote_ident(&self.legacy),
            active = quote_ident(&self.active),
            archived = quote_ident(&self.archived),
            active_lit = quote_literal(&self.active),
            archived_lit = quote_literal(&self.archived),
            lrow = self.row_text(Some("l")),
            nrow = self.row_text(Some("n")),
        )
    }

    /// Whole-table depth check over the new tables, one statement: depth must
    /// be 0 for a root and the parent's depth + 1 below it. Rows whose parent
    /// is not in the new tables are skipped (the chunk comparison reports the
    /// missing parent). Returns at most `limit` rows `id text, depth int,
    /// expected int, total bigint` where `total` counts all offending rows.
    ///
    /// The narrow `(id, parent_todo_id, depth)` image is read once and joined
    /// with itself; the ORDER BY and LIMIT stay outside the join so that the
    /// planner does not pick a nested loop probing every partition's index per
    /// row. Run it with enough `work_mem` for a hash or in-memory sort of that
    /// image ([`DEPTH_CHECK_SETTINGS`]).
    pub fn depth_check_sql(&self, limit: usize) -> String {
        format!(
            "WITH n AS MATERIALIZED ( \
               SELECT id, parent_todo_id, depth FROM {active} \
               UNION ALL SELECT id, parent_todo_id, depth FROM {archived}), \
             bad AS MATERIALIZED ( \
               SELECT c.id, c.depth, CASE WHEN c.parent_todo_id IS NULL THEN 0 ELSE p.depth + 1 END AS expected \
               FROM n c LEFT JOIN n p ON p.id = c.parent_todo_id \
               WHERE CASE WHEN c.parent_todo_id IS NULL THEN c.depth IS DISTINCT FROM 0 \
                          ELSE p.id IS NOT NULL AND c.depth IS DISTINCT FROM p.depth + 1 END) \
             SELECT id::text AS id, depth, expected, (SELECT count(*) FROM bad) AS total \
             FROM bad ORDER BY id LIMIT {limit}",
            active = quote_ident(&self.active),
            archived = quote_ident(&self.archived),
        )
    }

    /// Boundaries for tables small enough to number every key: the keys at
    /// positions `$1 + 1`, `2 * $1 + 1`, ... (`$1` a bigint), in order.
    pub fn exact_boundaries_sql(&self) -> String {
        let key = self.key();
        format!(
            "SELECT k FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) AS rn FROM {legacy}) s \
             WHERE rn > 1 AND (rn - 1) % $1 = 0 ORDER BY k",
            legacy = quote_ident(&self.legacy)
        )
    }

    /// Boundaries for large tables from a block sample: `$1` is the array of
    /// fractions (float8[]); `sample_percent` is the share of pages read.
    pub fn sampled_boundaries_sql(&self, sample_percent: f64) -> String {
        let key = self.key();
        format!(
            "SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY {key}) FROM {legacy} \
             TABLESAMPLE SYSTEM ({sample_percent}) REPEATABLE (42)",
            legacy = quote_ident(&self.legacy)
        )
    }

    /// The planner's row estimate for the legacy table (`-1` when never
    /// analysed).
    pub fn estimate_sql(&self) -> String {
        format!("SELECT reltuples::float8 FROM pg_class WHERE oid = {}::regclass", quote_literal(&self.legacy))
    }

    /// The benchmark floor: a plain full-scan hash aggregate of both sides in
    /// one statement, no chunks. Returns `legacy_rows, new_rows, matched`.
    pub fn floor_sql(&self) -> String {
        let h = self.hash_agg();
        format!(
            "WITH l AS (SELECT count(*) AS n, {h} AS h FROM {legacy}), \
             n AS (SELECT count(*) AS n, {h} AS h FROM {rel} u) \
             SELECT l.n, n.n, l.n = n.n AND l.h = n.h FROM l, n",
            legacy = quote_ident(&self.legacy),
            rel = self.new_relation(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_compare_reads_every_table_in_one_statement_over_every_column() {
        let sql = Spec::default().chunk_compare_sql();
        assert_eq!(sql.matches("WITH").count(), 1, "{sql}");
        for t in ["\"todos\"", "\"todos_active\"", "\"todos_archived\""] {
            assert!(sql.contains(&format!("FROM {t} WHERE \"id\" BETWEEN $1 AND $2")), "{t}: {sql}");
        }
        for c in LEGACY_COLUMNS {
            assert!(sql.contains(&format!("\"{c}\"")), "{c} not compared: {sql}");
        }
        assert!(!sql.contains("depth"), "depth is not a legacy column: {sql}");
        assert!(sql.contains("interval '30 days'"));
    }

    #[test]
    fn drill_names_one_flag_per_column_in_order() {
        let spec = Spec { columns: vec!["id".into(), "title".into()], ..Spec::default() };
        let sql = spec.chunk_drill_sql();
        assert!(
            sql.contains(
                "ARRAY[l.\"id\"::text IS DISTINCT FROM n.\"id\"::text, l.\"title\"::text IS DISTINCT FROM n.\"title\"::text]"
            ),
            "{sql}"
        );
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn new_relation_unions_both_tables_with_the_legacy_columns() {
        let spec = Spec { columns: vec!["id".into()], ..Spec::default() };
        assert_eq!(
            spec.new_relation(),
            "(SELECT \"id\" FROM \"todos_active\" UNION ALL SELECT \"id\" FROM \"todos_archived\")"
        );
    }
}
