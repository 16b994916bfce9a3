//! Recursive steps that join the legacy table to their own CTE:
//! `WITH RECURSIVE w AS (<base> UNION [ALL] SELECT ... FROM todos t JOIN w
//! ON <cond> ...)`, the shape of a hierarchy walk.
//!
//! Over the new tables such a step is a join of the working table with the
//! union of 25 partitions. The planner estimates at least a row per
//! partition, so the working table looks large and it hashes the whole
//! union on every iteration (about 35 ms per level at 100,000 todos), where
//! probing the parent index of each partition per working row costs well
//! under a millisecond. The step is rewritten as a LATERAL sub-select that
//! carries the join condition into each table's branch, which only a nested
//! loop can run (see [`crate::read::step_edit`]).
//!
//! Only a shape whose meaning cannot change is taken: an inner join with
//! ON, the step's FROM being exactly the two tables, every column in the
//! condition qualified by one of them, no sub-query in it, and no bare `*`
//! in the step's list (the LATERAL form puts the CTE first).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, SetOperator, Statement, TableFactor, Visit,
    Visitor,
};

use super::{fold, is_table, LineIndex, TableRef};
use crate::lex::{self, Kind, Token};
use crate::span::name_range;
use crate::spec::MigrationSpec;

/// One recursive step to rewrite: the text from its first FROM item to the
/// end of the join condition is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecursiveStep {
    /// Index of the legacy table's reference in [`super::Analysis::reads`].
    pub read: usize,
    pub start: usize,
    pub end: usize,
    /// The CTE's FROM item as written (`tree`, `tree AS w`).
    pub cte: String,
    /// The join condition as written.
    pub cond: String,
}

/// Finds the recursive steps of `stmt` that can be rewritten.
pub(super) fn steps(
    stmt: &Statement,
    sql: &str,
    toks: &[Token],
    idx: &LineIndex<'_>,
    reads: &[TableRef],
    spec: &MigrationSpec,
) -> Vec<RecursiveStep> {
    // Most statements have no recursive CTE: skip the walk for them.
    if !toks.iter().any(|t| t.is_word(sql, "recursive")) {
        return Vec::new();
    }
    let mut f = Finder { sql, toks, depth: lex::depths(toks), idx, reads, spec, found: Vec::new() };
    let _ = stmt.visit(&mut f);
    f.found
}

struct Finder<'a> {
    sql: &'a str,
    toks: &'a [Token],
    depth: Vec<i32>,
    idx: &'a LineIndex<'a>,
    reads: &'a [TableRef],
    spec: &'a MigrationSpec,
    found: Vec<RecursiveStep>,
}

impl Visitor for Finder<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let Some(with) = q.with.as_ref().filter(|w| w.recursive) else {
            return ControlFlow::Continue(());
        };
        for cte in &with.cte_tables {
            if let SetExpr::SetOperation { op: SetOperator::Union, right, .. } = cte.query.body.as_ref() {
                if let SetExpr::Select(sel) = right.as_ref() {
                    if let Some(step) = self.step(sel, &fold(&cte.alias.name)) {
                        self.found.push(step);
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl Finder<'_> {
    fn step(&self, sel: &Select, cte: &str) -> Option<RecursiveStep> {
        if sel.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_))) {
            return None;
        }
        let [from] = sel.from.as_slice() else { return None };
        let [join] = from.joins.as_slice() else { return None };
        let cond = match &join.join_operator {
            JoinOperator::Join(JoinConstraint::On(e)) | JoinOperator::Inner(JoinConstraint::On(e)) => e,
            _ => return None,
        };
        if !qualified_without_subqueries(cond) {
            return None;
        }
        let first = self.factor(&from.relation)?;
        let second = self.factor(&join.relation)?;
        let (table, other) = match (first.is_table, second.is_table) {
            (true, false) => (&first, &second),
            (false, true) => (&second, &first),
            _ => return None,
        };
        if other.name != cte {
            return None;
        }
        let read = self.reads.iter().position(|r| (r.start, r.end) == table.name_range)?;
        let (cond_start, end) = self.condition(second.end)?;
        Some(RecursiveStep {
            read,
            start: first.name_range.0,
            end,
            cte: self.sql.get(other.name_range.0..other.end)?.to_string(),
            cond: self.sql.get(cond_start..end)?.trim().to_string(),
        })
    }

    /// A plain table FROM item: where it starts and ends (alias included).
    fn factor(&self, tf: &TableFactor) -> Option<Factor> {
        let TableFactor::Table { name, alias, args: None, with_hints, version: None, partitions, .. } = tf else {
            return None;
        };
        if !with_hints.is_empty() || !partitions.is_empty() {
            return None;
        }
        let name_range = name_range(name, self.idx)?;
        let end = match alias {
            Some(a) if a.columns.is_empty() => self.idx.offset(a.name.span.end)?,
            Some(_) => return None,
            None => name_range.1,
        };
        let last = match name.0.as_slice() {
            [sqlparser::ast::ObjectNamePart::Identifier(i)] => fold(i),
            _ => String::new(),
        };
        Some(Factor { is_table: is_table(name, self.spec), name: last, name_range, end })
    }

    /// The condition after the `ON` that follows `after`: its start, and the
    /// end of its last token before the next clause of the step.
    fn condition(&self, after: usize) -> Option<(usize, usize)> {
        let on = self.toks.iter().position(|t| t.start >= after)?;
        if !self.toks[on].is_word(self.sql, "on") {
            return None;
        }
        let base = self.depth[on];
        let mut end = None;
        for (i, t) in self.toks.iter().enumerate().skip(on + 1) {
            let closes = t.kind == Kind::Close && self.depth[i] < base;
            let clause =
                self.depth[i] == base && (t.kind == Kind::Semi || CLAUSES.iter().any(|w| t.is_word(self.sql, w)));
            if closes || clause {
                break;
            }
            end = Some(t.end);
        }
        Some((self.toks[on].end, end?))
    }
}

/// Words that end a join condition at its own depth.
const CLAUSES: [&str; 16] = [
    "where",
    "group",
    "having",
    "window",
    "order",
    "limit",
    "offset",
    "fetch",
    "union",
    "intersect",
    "except",
    "for",
    "join",
    "inner",
    "left",
    "cross",
];

struct Factor {
    is_table: bool,
    name: String,
    name_range: (usize, usize),
    /// The end of its alias, or of its name without one.
    end: usize,
}

/// Every column reference is `alias.column` and nothing in the condition is
/// a sub-query, so it means the same inside the LATERAL sub-select.
fn qualified_without_subqueries(e: &Expr) -> bool {
    struct Check(bool);
    impl Visitor for Check {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(_) => {
                    self.0 = false;
                    ControlFlow::Break(())
                }
                Expr::CompoundIdentifier(parts) if parts.len() != 2 => {
                    self.0 = false;
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.0 = false;
            ControlFlow::Break(())
        }
    }
    let mut c = Check(true);
    let _ = e.visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use crate::classify::analyze;
    use crate::spec::MigrationSpec;

    fn steps(sql: &str) -> usize {
        let spec = MigrationSpec::default_todos();
        analyze(sql, &spec).expect("analyse").expect("a statement").recursive_steps.len()
    }

    const BASE: &str = "WITH RECURSIVE w AS (SELECT id, parent_todo_id FROM todos WHERE id = $1 UNION ALL ";

    #[test]
    fn a_step_joined_to_its_cte_with_qualified_columns_is_taken_in_either_order() {
        for step in [
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN w ON t.parent_todo_id = w.id",
            "SELECT t.id, t.parent_todo_id FROM w AS x INNER JOIN public.todos AS t ON t.parent_todo_id = x.id WHERE x.id IS NOT NULL",
            "SELECT todos.id, todos.parent_todo_id FROM todos JOIN w ON todos.parent_todo_id = w.id AND todos.status <> 'done'",
        ] {
            assert_eq!(steps(&format!("{BASE}{step}) SELECT * FROM w")), 1, "{step}");
        }
    }

    #[test]
    fn shapes_whose_meaning_could_change_keep_the_plain_union() {
        for step in [
            // An unqualified column could name a new-table column inside LATERAL.
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN w ON parent_todo_id = w.id",
            // A bare * would list the CTE's columns first.
            "SELECT * FROM todos t JOIN w ON t.parent_todo_id = w.id",
            // Outer joins, USING, sub-queries, a third FROM item, another CTE.
            "SELECT t.id, t.parent_todo_id FROM w LEFT JOIN todos t ON t.parent_todo_id = w.id",
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN w USING (id)",
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN w ON t.parent_todo_id = (SELECT w.id)",
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN w ON t.parent_todo_id = w.id JOIN users u ON u.id = t.user_id",
            "SELECT t.id, t.parent_todo_id FROM todos t JOIN other o ON t.parent_todo_id = o.id",
        ] {
            assert_eq!(steps(&format!("{BASE}{step}) SELECT id FROM w")), 0, "{step}");
        }
    }
}
