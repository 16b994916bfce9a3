//! Where each result column of a read of the legacy table comes from, as
//! far as PostgreSQL's RowDescription tells it: a column of the table under
//! another name (`SELECT id AS todo_id FROM todos`) is described with the
//! table's OID and the column's number, a computed column under a column's
//! name (`SELECT priority + 1 AS priority`) as computed. A rewritten read
//! describes both as computed (its rows come from a derived table), so the
//! proxy needs to know which is which; names alone cannot tell. Read from
//! the main query's select list; pure logic over the parsed statement.

use serde::Serialize;
use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement, TableFactor};

use crate::classify::{fold, is_table};
use crate::spec::MigrationSpec;

/// Where one result column comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ColumnOrigin {
    /// The table's column of this name, whatever the result column is called.
    Column(String),
    /// Computed: PostgreSQL describes it with no table.
    Computed,
    /// Named as it comes (a bare column, an expression without an alias):
    /// a result column with a legacy column's name and type is that column.
    ByName,
}

/// The origin of each result column of `stmt`'s main query, in order; None
/// when the list cannot be told (not one SELECT, a `*`).
pub fn column_origins(stmt: &Statement, spec: &MigrationSpec) -> Option<Vec<ColumnOrigin>> {
    let Statement::Query(query) = stmt else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let mut factors = 0;
    let mut names: Vec<String> = Vec::new();
    let mut see = |tf: &TableFactor| {
        factors += 1;
        if let TableFactor::Table { name, alias, .. } = tf {
            if is_table(name, spec) {
                names.push(alias.as_ref().map_or_else(|| spec.legacy.table.clone(), |a| fold(&a.name)));
            }
        }
    };
    for from in &select.from {
        see(&from.relation);
        from.joins.iter().for_each(|j| see(&j.relation));
    }
    let alone = factors == 1 && names.len() == 1;
    let column_of = |e: &Expr| {
        match e {
            Expr::Identifier(c) if alone => Some(fold(c)),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 && names.contains(&fold(&parts[0])) => {
                Some(fold(&parts[1]))
            }
            _ => None,
        }
        .filter(|c| spec.columns.legacy.contains(c))
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(_) => Some(ColumnOrigin::ByName),
            SelectItem::ExprWithAlias { expr, .. } => {
                Some(column_of(expr).map_or(ColumnOrigin::Computed, ColumnOrigin::Column))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn origins(sql: &str) -> Option<Vec<ColumnOrigin>> {
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        column_origins(&stmts[0], &MigrationSpec::default_todos())
    }

    #[test]
    fn aliased_columns_of_the_table_are_told_from_computed_ones() {
        use ColumnOrigin::*;
        assert_eq!(
            origins("SELECT id AS todo_id, title, priority + 1 AS priority, t.status AS \"S\" FROM todos t"),
            Some(vec![Column("id".into()), ByName, Computed, Column("status".into())])
        );
        // In a join only qualified references are the table's.
        assert_eq!(
            origins("SELECT t.id AS a, id AS b, u.email AS c FROM todos t JOIN users u ON u.id = t.user_id"),
            Some(vec![Column("id".into()), Computed, Computed])
        );
        assert_eq!(origins("SELECT *, id AS x FROM todos"), None);
        assert_eq!(origins("SELECT id AS x FROM todos UNION SELECT id FROM todos"), None);
    }
}
