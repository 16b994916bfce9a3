//! The AST walk of [`analyze`](super::analyze): every table factor naming
//! the legacy table, locking clauses, CTE names and volatile calls.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor, Visit, Visitor};

use super::{fold, is_table, ClassifyError, LineIndex, TableRef};
use crate::span::name_range;
use crate::spec::MigrationSpec;

/// Collects table factors naming the table, locks, CTE names, volatility.
pub(super) struct Collector<'a> {
    pub(super) spec: &'a MigrationSpec,
    pub(super) idx: &'a LineIndex<'a>,
    pub(super) factors: Vec<TableRef>,
    pub(super) bad_span: bool,
    pub(super) shadowing_cte: bool,
    pub(super) locks_table: bool,
    pub(super) writes_in_with: bool,
    pub(super) volatile: bool,
    pub(super) aliases: Vec<String>,
    pub(super) lock_of: Vec<Option<String>>,
    /// Relation references naming the table, in any position.
    pub(super) relations: usize,
}

const VOLATILE: [&str; 6] =
    ["random", "gen_random_uuid", "clock_timestamp", "nextval", "timeofday", "uuid_generate_v4"];

impl Visitor for Collector<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, n: &ObjectName) -> ControlFlow<()> {
        if is_table(n, self.spec) {
            self.relations += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, args: None, .. } = tf {
            if is_table(name, self.spec) {
                match name_range(name, self.idx) {
                    Some((start, end)) => {
                        let alias = alias.as_ref().map(|a| a.name.to_string());
                        if let Some(a) = &alias {
                            self.aliases.push(a.clone());
                        }
                        self.factors.push(TableRef { start, end, alias });
                    }
                    None => self.bad_span = true,
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(w) = &q.with {
            for c in &w.cte_tables {
                if fold(&c.alias.name) == self.spec.legacy.table {
                    self.shadowing_cte = true;
                }
                if matches!(
                    *c.query.body,
                    SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
                ) {
                    self.writes_in_with = true;
                }
            }
        }
        for l in &q.locks {
            let of = l.of.as_ref().and_then(|of| {
                of.0.last().and_then(|p| match p {
                    ObjectNamePart::Identifier(i) => Some(fold(i)),
                    ObjectNamePart::Function(_) => None,
                })
            });
            self.lock_of.push(of);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            if let Some(ObjectNamePart::Identifier(i)) = f.name.0.last() {
                let n = fold(i);
                if VOLATILE.contains(&n.as_str()) {
                    self.volatile = true;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Walks `stmt`, and decides whether a locking clause applies to the table:
/// one without OF, or OF the table or one of its aliases.
pub(super) fn collect<'a>(
    stmt: &Statement,
    spec: &'a MigrationSpec,
    idx: &'a LineIndex<'a>,
) -> Result<Collector<'a>, ClassifyError> {
    let mut c = Collector {
        spec,
        idx,
        factors: Vec::new(),
        bad_span: false,
        shadowing_cte: false,
        locks_table: false,
        writes_in_with: false,
        volatile: false,
        aliases: Vec::new(),
        lock_of: Vec::new(),
        relations: 0,
    };
    let _ = stmt.visit(&mut c);
    if c.bad_span {
        return Err(ClassifyError::Span);
    }
    c.locks_table = c.lock_of.iter().any(|of| match of {
        None => true,
        Some(n) => *n == spec.legacy.table || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(n)),
    }) && !c.factors.is_empty();
    Ok(c)
}
