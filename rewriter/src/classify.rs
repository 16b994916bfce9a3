//! Classification: parse one statement and find every place it names the
//! legacy table, with its role (a read, or the target of an INSERT, UPDATE
//! or DELETE) and byte ranges into the original text.
//!
//! Byte ranges come from sqlparser's spans (line and column, counted in
//! characters) converted through [`LineIndex`], and from [`crate::lex`] for
//! the clause keywords the AST does not locate (`RETURNING`, `SET`, the
//! parentheses around a CTE body).

mod collect;
mod kinds;
mod recursive;
mod sites;

pub use recursive::RecursiveStep;

use sqlparser::ast::{ObjectName, ObjectNamePart, Query, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::lex::{self, Kind, Token};
use crate::mask::{self, Cursor};
use crate::shape::{order_by_output, single_table, unordered_limit};
pub use crate::span::LineIndex;
use crate::spec::MigrationSpec;

/// INSERT, UPDATE or DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

/// A reference to the legacy table in a FROM list (or the target of a write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The name's bytes, from the first part to the last (`public.todos`).
    pub start: usize,
    pub end: usize,
    /// The alias as written, if any.
    pub alias: Option<String>,
}

/// One write to the legacy table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub kind: DmlKind,
    pub target: TableRef,
    /// The write's own text: the whole statement (without a leading top-level
    /// WITH), or a CTE body inside its parentheses.
    pub start: usize,
    pub end: usize,
    /// The index of the CTE holding it, or None for the main statement.
    pub cte: Option<usize>,
    /// `ON CONFLICT` present (INSERT).
    pub on_conflict: bool,
    /// An INSERT's column list, folded; empty when it names none (every
    /// column, in order) or for UPDATE and DELETE.
    pub insert_columns: Vec<String>,
}

/// One CTE of the top-level WITH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CteInfo {
    pub name: String,
    /// Start of the CTE's name.
    pub start: usize,
    /// The `(` and `)` around its body.
    pub open: usize,
    pub close: usize,
}

/// What kind of statement this is, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StmtKind {
    /// SELECT / VALUES / set operations, or a write, possibly under WITH.
    Dml,
    /// `COPY todos FROM ...`
    CopyIntoTable,
    /// `COPY todos TO ...`
    CopyTableTo,
    /// `COPY (query) TO ...`
    CopyQueryTo,
    /// `EXPLAIN [ANALYZE] <statement>`
    Explain { analyze: bool, writes: bool },
    /// Anything else (DDL, TRUNCATE, LOCK, utility), named.
    Other(String),
}

/// Everything the planner needs to know about one statement.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub kind: StmtKind,
    /// Reads of the legacy table (not write targets), in text order.
    pub reads: Vec<TableRef>,
    /// Writes to the legacy table, in text order.
    pub sites: Vec<Site>,
    /// The top-level WITH's CTEs (empty without one).
    pub ctes: Vec<CteInfo>,
    /// Where the main statement starts after a top-level WITH.
    pub main_start: usize,
    /// The statement's text range, without trailing `;`, comments or blanks.
    pub start: usize,
    pub end: usize,
    /// Relation references to the table the analysis could not place.
    pub stray_refs: usize,
    /// Some query names the table's name as a CTE (it would shadow it).
    pub shadowing_cte: bool,
    /// Some query has FOR UPDATE / FOR SHARE that may apply to the table.
    pub locks_table: bool,
    /// A write (to any table) appears somewhere in a CTE.
    pub writes_in_with: bool,
    /// A top-level LIMIT/OFFSET/FETCH without an ORDER BY on an `id`.
    pub unordered_limit: bool,
    /// A volatile function is called (random(), gen_random_uuid(), ...).
    pub volatile: bool,
    /// Top-level statement count in the text.
    pub statements: usize,
    /// A plain query (SELECT, VALUES, set operations) with no write anywhere.
    pub pure_query: bool,
    /// A single SELECT with no WITH, set operation, ORDER BY, LIMIT or FETCH:
    /// a locking read of this shape can be split into one branch per table.
    pub simple_select: bool,
    /// TABLESAMPLE appears (it cannot follow a derived table).
    pub tablesample: bool,
    /// `DECLARE ... CURSOR FOR <query>`: the statement is the query.
    pub cursor: Option<Cursor>,
    /// Where the (cursor's) query starts: `start`, or after `DECLARE ... FOR`.
    pub query_start: usize,
    /// The main query itself carries a lock clause (not only a subquery).
    pub top_locks: bool,
    /// The main query is one SELECT over a single table without joins,
    /// DISTINCT, GROUP BY, HAVING or WINDOW: the shape a lock clause allows.
    pub single_table: bool,
    /// The main query's ORDER BY names an output column by position or alias.
    pub order_by_output: bool,
    /// Where the main query's result columns come from, when it can be told.
    pub columns: Option<Vec<crate::origins::ColumnOrigin>>,
    /// Recursive steps joining the table to their CTE, read through LATERAL.
    pub recursive_steps: Vec<RecursiveStep>,
}

/// Why a statement could not be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("the statement does not parse: {0}")]
    Parse(String),
    #[error("a span of the statement could not be located")]
    Span,
}

/// Whether an object name is the legacy table (`todos`, `public.todos`,
/// `"public"."todos"`, `db.public.todos`).
pub fn is_table(name: &ObjectName, spec: &MigrationSpec) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(fold(i)),
            ObjectNamePart::Function(_) => None,
        })
        .collect();
    if parts.len() != name.0.len() {
        return false;
    }
    match parts.as_slice() {
        [t] => *t == spec.legacy.table,
        [s, t] | [_, s, t] => *t == spec.legacy.table && *s == spec.legacy.schema,
        _ => false,
    }
}

pub(crate) fn fold(i: &sqlparser::ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

/// Parses `sql` (which the fast path says may touch the table) and analyses it.
/// `Ok(None)` when the text holds no statement at all.
pub fn analyze(sql: &str, spec: &MigrationSpec) -> Result<Option<Analysis>, ClassifyError> {
    let masked = mask::mask(sql);
    let stmts =
        Parser::parse_sql(&PostgreSqlDialect {}, &masked.text).map_err(|e| ClassifyError::Parse(e.to_string()))?;
    let toks = lex::tokens(sql);
    let idx = LineIndex::new(sql);
    let Some(first) = stmts.first() else {
        return Ok(None);
    };
    let (start, end) = statement_range(&toks);
    let query_start = masked.cursor.map_or(start, |c| c.query_start);
    let c = collect::collect(first, spec, &idx)?;
    let mut rel_count = c.relations;
    let mut a = Analysis {
        kind: StmtKind::Dml,
        reads: Vec::new(),
        sites: Vec::new(),
        ctes: Vec::new(),
        main_start: query_start,
        start,
        end,
        stray_refs: 0,
        shadowing_cte: c.shadowing_cte,
        locks_table: c.locks_table,
        writes_in_with: c.writes_in_with,
        unordered_limit: false,
        volatile: c.volatile,
        statements: stmts.len(),
        pure_query: false,
        simple_select: false,
        tablesample: false,
        cursor: masked.cursor,
        query_start,
        top_locks: false,
        single_table: false,
        order_by_output: false,
        columns: crate::origins::column_origins(first, spec),
        recursive_steps: Vec::new(),
    };

    let mut targets: Vec<TableRef> = Vec::new();
    match first {
        Statement::Query(q) => {
            targets = sites::query_sites(q, spec, &idx, &toks, &mut a)?;
            query_shape(q, &mut a);
        }
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
            if let Some(site) = sites::stmt_site(first, spec, &idx, start, end, None)? {
                targets.push(site.target.clone());
                a.sites.push(site);
            }
        }
        Statement::Copy { source, to, .. } => {
            a.kind = kinds::copy(source, *to, spec);
            if a.kind == StmtKind::CopyIntoTable || a.kind == StmtKind::CopyTableTo {
                rel_count += 1;
                targets.push(TableRef { start: 0, end: 0, alias: None });
            }
        }
        Statement::Explain { analyze, statement, options, .. } => {
            a.kind = kinds::explain(*analyze, statement, options.as_deref(), c.writes_in_with);
        }
        other => a.kind = kinds::other(other, spec),
    }
    a.reads = reads(c.factors, &targets);
    a.recursive_steps = recursive::steps(first, sql, &toks, &idx, &a.reads, spec);
    widen_only(sql, &toks, &mut a);
    a.tablesample = toks.iter().any(|t| t.is_word(sql, "tablesample"));
    a.stray_refs = rel_count.saturating_sub(a.reads.len() + targets.len());
    Ok(Some(a))
}

/// The statement's own text: all tokens up to the first top-level `;`.
fn statement_range(toks: &[Token]) -> (usize, usize) {
    let depth = lex::depths(toks);
    let mut start = None;
    let mut end = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == Kind::Semi && depth[i] == 0 {
            if start.is_some() {
                break;
            }
            continue;
        }
        start.get_or_insert(t.start);
        end = t.end;
    }
    (start.unwrap_or(0), end)
}

/// What the read planner needs to know of a query's shape.
fn query_shape(q: &Query, a: &mut Analysis) {
    a.unordered_limit = unordered_limit(q);
    a.simple_select = q.with.is_none()
        && matches!(*q.body, SetExpr::Select(_))
        && q.order_by.is_none()
        && q.limit_clause.is_none()
        && q.fetch.is_none();
    a.top_locks = !q.locks.is_empty();
    a.single_table = single_table(&q.body);
    a.order_by_output = order_by_output(q);
    a.pure_query = a.sites.is_empty()
        && !a.writes_in_with
        && !matches!(*q.body, SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_));
}

/// The table's references that are not write targets, in text order.
fn reads(factors: Vec<TableRef>, targets: &[TableRef]) -> Vec<TableRef> {
    let mut reads: Vec<TableRef> =
        factors.into_iter().filter(|f| !targets.iter().any(|t| t.start == f.start && t.end == f.end)).collect();
    reads.sort_by_key(|r| r.start);
    reads.dedup_by_key(|r| r.start);
    reads
}

/// `ONLY todos` (no inheritance children in legacy): the span takes the
/// keyword with it, since neither a derived table nor the new partitioned
/// tables may follow ONLY.
fn widen_only(sql: &str, toks: &[Token], a: &mut Analysis) {
    let widen = |r: &mut TableRef| {
        if let Some(prev) = toks.iter().take_while(|t| t.end <= r.start).last() {
            if prev.is_word(sql, "only") {
                r.start = prev.start;
            }
        }
    };
    a.reads.iter_mut().for_each(widen);
    a.sites.iter_mut().for_each(|s| widen(&mut s.target));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MigrationSpec {
        MigrationSpec::default_todos()
    }

    #[test]
    fn finds_reads_and_targets() {
        let s = "WITH x AS (UPDATE todos t SET title = 'a' RETURNING id) SELECT * FROM \"public\".\"todos\" JOIN x USING (id)";
        let a = analyze(s, &spec()).expect("parses").expect("one statement");
        assert_eq!(a.sites.len(), 1);
        assert_eq!(a.sites[0].target.alias.as_deref(), Some("t"));
        assert_eq!(&s[a.sites[0].start..a.sites[0].end], "UPDATE todos t SET title = 'a' RETURNING id");
        assert_eq!(a.reads.len(), 1);
        assert_eq!(&s[a.reads[0].start..a.reads[0].end], "\"public\".\"todos\"");
        assert_eq!(a.stray_refs, 0);
        assert_eq!(&s[a.main_start..a.end], "SELECT * FROM \"public\".\"todos\" JOIN x USING (id)");
    }
}
