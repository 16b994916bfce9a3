//! Where a statement writes the legacy table: the write sites of a plain
//! INSERT, UPDATE or DELETE and of the data-modifying CTEs of a query.

use sqlparser::ast::{FromTable, Query, SetExpr, Statement, TableFactor, TableObject};

use super::{fold, is_table, Analysis, ClassifyError, CteInfo, DmlKind, LineIndex, Site, TableRef};
use crate::lex::{Kind, Token};
use crate::span::name_range;
use crate::spec::MigrationSpec;

/// The CTEs of a query and the write sites in them and in its body, and
/// where the main query starts. Returns the sites' targets.
pub(super) fn query_sites(
    q: &Query,
    spec: &MigrationSpec,
    idx: &LineIndex<'_>,
    toks: &[Token],
    a: &mut Analysis,
) -> Result<Vec<TableRef>, ClassifyError> {
    let mut targets = Vec::new();
    if let Some(w) = &q.with {
        for (i, cte) in w.cte_tables.iter().enumerate() {
            let name_start = idx.offset(cte.alias.name.span.start).ok_or(ClassifyError::Span)?;
            let close = idx.offset(cte.closing_paren_token.0.span.start).ok_or(ClassifyError::Span)?;
            let open = matching_open(toks, close).ok_or(ClassifyError::Span)?;
            a.ctes.push(CteInfo { name: fold(&cte.alias.name), start: name_start, open, close });
            let body_start = toks.iter().find(|t| t.start > open).map_or(open + 1, |t| t.start);
            let body_end = toks.iter().rev().find(|t| t.end <= close).map_or(close, |t| t.end);
            if let Some(site) = body_site(&cte.query.body, spec, idx, body_start, body_end, Some(i))? {
                targets.push(site.target.clone());
                a.sites.push(site);
            }
        }
        if let Some(last) = a.ctes.last() {
            a.main_start = toks.iter().find(|t| t.start > last.close).map_or(a.end, |t| t.start);
        }
    }
    if let Some(site) = body_site(&q.body, spec, idx, a.main_start, a.end, None)? {
        targets.push(site.target.clone());
        a.sites.push(site);
    }
    Ok(targets)
}

pub(super) fn matching_open(toks: &[Token], close: usize) -> Option<usize> {
    let ci = toks.iter().position(|t| t.start == close && t.kind == Kind::Close)?;
    let mut d = 0i32;
    for t in toks[..=ci].iter().rev() {
        match t.kind {
            Kind::Close => d += 1,
            Kind::Open => {
                d -= 1;
                if d == 0 {
                    return Some(t.start);
                }
            }
            _ => {}
        }
    }
    None
}

pub(super) fn body_site(
    body: &SetExpr,
    spec: &MigrationSpec,
    idx: &LineIndex<'_>,
    start: usize,
    end: usize,
    cte: Option<usize>,
) -> Result<Option<Site>, ClassifyError> {
    match body {
        SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) => stmt_site(s, spec, idx, start, end, cte),
        _ => Ok(None),
    }
}

pub(super) fn stmt_site(
    s: &Statement,
    spec: &MigrationSpec,
    idx: &LineIndex<'_>,
    start: usize,
    end: usize,
    cte: Option<usize>,
) -> Result<Option<Site>, ClassifyError> {
    let mut insert_columns = Vec::new();
    let (kind, name, alias, on_conflict) = match s {
        Statement::Insert(ins) => match &ins.table {
            TableObject::TableName(n) => {
                // A column's first part names it (`tags[1]`, `point.x` assign into it);
                // anything else leaves the list unknown, treated as naming every column.
                insert_columns = ins
                    .columns
                    .iter()
                    .map(|c| c.0.first()?.as_ident().map(fold))
                    .collect::<Option<_>>()
                    .unwrap_or_default();
                (DmlKind::Insert, n, ins.table_alias.as_ref().map(|a| a.alias.to_string()), ins.on.is_some())
            }
            _ => return Ok(None),
        },
        Statement::Update(u) => match &u.table.relation {
            TableFactor::Table { name, alias, .. } => {
                (DmlKind::Update, name, alias.as_ref().map(|a| a.name.to_string()), false)
            }
            _ => return Ok(None),
        },
        Statement::Delete(d) => {
            let tables = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            match tables.first().map(|t| &t.relation) {
                Some(TableFactor::Table { name, alias, .. }) => {
                    (DmlKind::Delete, name, alias.as_ref().map(|a| a.name.to_string()), false)
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    if !is_table(name, spec) {
        return Ok(None);
    }
    let (ns, ne) = name_range(name, idx).ok_or(ClassifyError::Span)?;
    Ok(Some(Site {
        kind,
        target: TableRef { start: ns, end: ne, alias },
        start,
        end,
        cte,
        on_conflict,
        insert_columns,
    }))
}
