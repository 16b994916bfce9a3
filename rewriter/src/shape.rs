//! The top level of a query, as the planner cares about it: whether it may
//! carry a lock clause as one SELECT over one table, whether its ORDER BY
//! names output columns, whether a LIMIT lacks a total order.

use sqlparser::ast::{Expr, GroupByExpr, OrderBy, OrderByKind, Query, SelectItem, SetExpr, TableFactor, Value};

use crate::classify::fold;

/// One SELECT over a single table without joins, DISTINCT, INTO, GROUP BY,
/// HAVING or WINDOW: the shape a lock clause allows.
pub fn single_table(body: &SetExpr) -> bool {
    let SetExpr::Select(s) = body else { return false };
    let no_grouping = match &s.group_by {
        GroupByExpr::Expressions(e, m) => e.is_empty() && m.is_empty(),
        GroupByExpr::All(_) => false,
    };
    matches!(s.from.as_slice(), [f] if f.joins.is_empty() && matches!(f.relation, TableFactor::Table { .. }))
        && s.distinct.is_none()
        && s.into.is_none()
        && no_grouping
        && s.having.is_none()
        && s.named_window.is_empty()
}

/// ORDER BY 2, or ORDER BY an alias of the select list.
pub fn order_by_output(q: &Query) -> bool {
    let Some(OrderBy { kind: OrderByKind::Expressions(items), .. }) = &q.order_by else {
        return false;
    };
    let aliases: Vec<String> = match &*q.body {
        SetExpr::Select(s) => s
            .projection
            .iter()
            .filter_map(|p| match p {
                SelectItem::ExprWithAlias { alias, .. } => Some(fold(alias)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    items.iter().any(|o| match &o.expr {
        Expr::Value(v) => matches!(v.value, Value::Number(..)),
        Expr::Identifier(i) => aliases.contains(&fold(i)),
        _ => false,
    })
}

/// A LIMIT/OFFSET/FETCH without an ORDER BY on an `id`.
pub fn unordered_limit(q: &Query) -> bool {
    let limited = q.limit_clause.is_some() || q.fetch.is_some();
    if !limited {
        return false;
    }
    let Some(ob) = &q.order_by else { return true };
    let text = ob.to_string().to_ascii_lowercase();
    !(text.contains(".id") || text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "id"))
}
