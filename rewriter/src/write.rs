//! Writes: every INSERT, UPDATE or DELETE of the legacy table becomes a
//! data-modifying CTE returning full row images, handed to a mirror function
//! in the same statement (design §5, invariant I1).
//!
//! ```text
//! WITH sy_rows_0 AS (<client DML> RETURNING todos.*),
//!      sy_mirror_0 AS (INSERT INTO switchyard.mirror_sink (n) SELECT 1
//!                      WHERE switchyard.mirror_todos('U', (SELECT array_agg(sy_rows_0::public.todos) FROM sy_rows_0)) < 0)
//! SELECT <client's RETURNING list> FROM sy_rows_0 AS todos      -- or: SELECT count(*) AS sy_count FROM sy_rows_0
//! ```
//!
//! The mirror runs inside an INSERT into an always-empty sink table because
//! PostgreSQL runs data-modifying CTEs exactly once and to completion whether
//! or not the main query reads them, while a plain `SELECT` CTE runs only if
//! read, and a gate in the main query can be planned away (`WHERE false`).
//! The function never returns a negative count, so the sink stays empty.
//!
//! In write_new and new_only the target becomes `todos_active` (INSERT) or
//! both `todos_active` and `todos_archived` (UPDATE, DELETE; active first in
//! the text, so its lock is taken first, per the archival lock protocol), the
//! legacy `updated_at` trigger is emulated with `updated_at = now()`, and
//! `ON CONFLICT` is split by where the conflicting id lives (`upsert`).

use crate::classify::{Analysis, DmlKind, Site};
use crate::lex::{self, Kind, Token};
use crate::mirror::{self, Shape};
use crate::plan::{Action, CommandTag, Phase, Plan, ResultShape};
use crate::read;
use crate::set_list;
use crate::spec::MigrationSpec;
use crate::splice::{render, Edit};
use crate::upsert;

/// A write the rewriter cannot plan: the construct, for the refusal message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

pub(crate) fn unsupported(s: impl Into<String>) -> Unsupported {
    Unsupported(s.into())
}

pub(crate) struct Ctx<'a> {
    pub src: &'a str,
    pub toks: Vec<Token>,
    depth: Vec<i32>,
    pub spec: &'a MigrationSpec,
    phase: Phase,
}

/// One site, rewritten.
struct SiteOut {
    /// CTE definitions, comma-separated, the last one named `rows`.
    ctes: String,
    rows: String,
    /// The client's RETURNING list, as written.
    returning: Option<String>,
    alias: String,
    /// What the write may change, for the mirror.
    shape: Shape,
}

impl Ctx<'_> {
    /// Token indices inside `lo..hi` with their depth relative to the first.
    fn range(&self, lo: usize, hi: usize) -> Vec<(usize, i32)> {
        let mut out = Vec::new();
        let mut base = None;
        for (i, t) in self.toks.iter().enumerate() {
            if t.start >= lo && t.end <= hi {
                let b = *base.get_or_insert(self.depth[i]);
                out.push((i, self.depth[i] - b));
            }
        }
        out
    }

    pub(crate) fn word(&self, i: usize, kw: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_word(self.src, kw))
    }

    pub(crate) fn text(&self, i: usize) -> &str {
        self.toks.get(i).map_or("", |t| t.text(self.src))
    }
}

fn op_code(k: DmlKind) -> &'static str {
    match k {
        DmlKind::Insert => "I",
        DmlKind::Update => "U",
        DmlKind::Delete => "D",
    }
}

/// Plans a statement holding one or more writes to the legacy table.
pub fn plan_writes(sql: &str, a: &Analysis, spec: &MigrationSpec, phase: Phase) -> Result<Plan, Unsupported> {
    let toks = lex::tokens(sql);
    let depth = lex::depths(&toks);
    let cx = Ctx { src: sql, toks, depth, spec, phase };
    if phase.writes_new() && a.locks_table {
        return Err(unsupported("FOR UPDATE/FOR SHARE on todos inside a write"));
    }
    let reads = if phase.writes_new() { read::read_edits(&a.reads, spec) } else { Vec::new() };
    let mirror_fn = match phase {
        Phase::WriteNew => spec.to_legacy_fn(),
        Phase::NewOnly => spec.new_only_fn(),
        _ => spec.to_new_fn(),
    };
    let main_site = a.sites.iter().position(|s| s.cte.is_none());
    if main_site.is_some() && a.ctes.is_empty() && a.sites.len() > 1 {
        return Err(unsupported("several writes to todos in one statement"));
    }
    let mut outs = Vec::new();
    for (k, site) in a.sites.iter().enumerate() {
        outs.push(rewrite_site(&cx, site, k, &reads)?);
    }
    let mirrors: Vec<String> = a
        .sites
        .iter()
        .zip(&outs)
        .enumerate()
        .flat_map(|(k, (site, o))| mirror::ctes(spec, phase, o.shape, op_code(site.kind), k, &o.rows))
        .collect();
    // `, <mirror CTEs>` or nothing.
    let mirrors = mirrors.iter().map(|m| format!(", {m}")).collect::<String>();

    let final_select = |o: &SiteOut| match &o.returning {
        Some(l) => format!("SELECT {l} FROM {} AS {}", o.rows, o.alias),
        None => format!("SELECT count(*) AS sy_count FROM {}", o.rows),
    };

    let sql_out = if a.ctes.is_empty() {
        let k = main_site.ok_or_else(|| unsupported("a write without a target"))?;
        let o = &outs[k];
        format!(
            "{}WITH {}{} {}{}",
            sql.get(..a.start).unwrap_or(""),
            o.ctes,
            mirrors,
            final_select(o),
            sql.get(a.end..).unwrap_or("")
        )
    } else {
        let mut edits: Vec<Edit> =
            reads.iter().filter(|e| !a.sites.iter().any(|s| e.start >= s.start && e.end <= s.end)).cloned().collect();
        for (site, o) in a.sites.iter().zip(&outs) {
            if let Some(ci) = site.cte {
                let cte = &a.ctes[ci];
                edits.push(Edit::insert(cte.start, format!("{}, ", o.ctes)));
                let body = match &o.returning {
                    Some(l) => format!("SELECT {l} FROM {} AS {}", o.rows, o.alias),
                    None => format!("SELECT 1 FROM {} WHERE false", o.rows),
                };
                edits.push(Edit::new(site.start, site.end, body));
            }
        }
        match main_site {
            Some(k) => {
                let o = &outs[k];
                edits.push(Edit::new(a.main_start, a.end, format!(", {}{} {}", o.ctes, mirrors, final_select(o))));
            }
            None => edits.push(Edit::insert(a.main_start, format!("{mirrors} "))),
        }
        render(sql, 0, sql.len(), &edits).map_err(|e| unsupported(e.to_string()))?
    };

    let result = match main_site {
        Some(k) => {
            let o = &outs[k];
            ResultShape {
                command_tag: match a.sites[k].kind {
                    DmlKind::Insert => CommandTag::Insert,
                    DmlKind::Update => CommandTag::Update,
                    DmlKind::Delete => CommandTag::Delete,
                },
                hide_rows: o.returning.is_none(),
                client_columns: o.returning.as_deref().map(split_list),
            }
        }
        None => ResultShape::as_reported(),
    };
    Ok(Plan {
        action: Action::Rewrite,
        sql: sql_out,
        result,
        shadow: None,
        reason: Some(format!(
            "write to {} mirrored by {} in one statement (phase {phase})",
            spec.legacy.table, mirror_fn
        )),
    })
}

/// Splits a list at top-level commas, trimming each item.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    let toks = lex::tokens(s);
    let depth = lex::depths(&toks);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == Kind::Comma && depth[i] == 0 {
            out.push(s.get(start..t.start).unwrap_or("").trim().to_string());
            start = t.end;
        }
    }
    out.push(s.get(start..).unwrap_or("").trim().to_string());
    out
}

fn rewrite_site(cx: &Ctx<'_>, site: &Site, k: usize, reads: &[Edit]) -> Result<SiteOut, Unsupported> {
    let spec = cx.spec;
    let toks = cx.range(site.start, site.end);
    let alias = site.target.alias.clone().unwrap_or_else(|| spec.legacy.table.clone());
    // The RETURNING clause: always last in PostgreSQL's INSERT/UPDATE/DELETE.
    let ret = toks.iter().rev().find(|(i, d)| *d == 0 && cx.word(*i, "returning")).map(|(i, _)| *i);
    let returning = ret.map(|i| cx.src.get(cx.toks[i].end..site.end).unwrap_or("").trim().to_string());
    if let Some(l) = &returning {
        check_returning(cx, l, &alias, site, &toks)?;
    }
    let mut edits: Vec<Edit> = reads.iter().filter(|e| e.start >= site.start && e.end <= site.end).cloned().collect();
    let rows = format!("sy_rows_{k}");
    let shape = match site.kind {
        DmlKind::Insert if !site.on_conflict => Shape::NewRows,
        DmlKind::Update => update_shape(cx, &toks, site, reads),
        _ => Shape::General,
    };
    let row_list = if cx.phase.writes_new() {
        spec.columns.legacy.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
    } else {
        format!("{alias}.*")
    };
    // Pushed last: an insertion at the statement's end (a SET item appended
    // below) must come before it, and equal offsets keep their order.
    let returning_edit = match ret {
        Some(i) => Edit::new(cx.toks[i].start, site.end, format!("RETURNING {row_list}")),
        None => Edit::insert(site.end, format!(" RETURNING {row_list}")),
    };
    if !cx.phase.writes_new() {
        edits.push(returning_edit);
        let body = render(cx.src, site.start, site.end, &edits).map_err(|e| unsupported(e.to_string()))?;
        return Ok(SiteOut { ctes: format!("{rows} AS ({body})"), rows, returning, alias, shape });
    }
    // New-schema targets.
    if site.kind == DmlKind::Insert && site.on_conflict {
        if let Some(ctes) = upsert::rewrite(cx, &toks, site, k, reads, &alias, &row_list)? {
            return Ok(SiteOut { ctes, rows, returning, alias, shape });
        }
    }
    if let Some(touch) = &spec.legacy.touch_on_update {
        let set_kw = match site.kind {
            DmlKind::Update => toks.iter().find(|(i, d)| *d == 0 && cx.word(*i, "set")).map(|(i, _)| *i),
            DmlKind::Insert => toks
                .iter()
                .find(|(i, d)| *d == 0 && cx.word(*i, "do") && cx.word(i + 1, "update") && cx.word(i + 2, "set"))
                .map(|(i, _)| i + 2),
            DmlKind::Delete => None,
        };
        if let Some(set) = set_kw {
            edits.extend(touch_edits(cx, &toks, set, site.end, touch)?);
        }
    }
    edits.push(returning_edit);
    let target = |table: &str| {
        let name = format!("{}.{}", spec.new.schema, table);
        match &site.target.alias {
            Some(_) => Edit::new(site.target.start, site.target.end, name),
            None => Edit::new(site.target.start, site.target.end, format!("{name} AS {}", spec.legacy.table)),
        }
    };
    let copy = |table: &str| -> Result<String, Unsupported> {
        let mut e = edits.clone();
        e.push(target(table));
        render(cx.src, site.start, site.end, &e).map_err(|e| unsupported(e.to_string()))
    };
    let reopen = match site.kind {
        DmlKind::Update => reopening(cx, &toks, site, &alias, reads)?,
        _ => None,
    };
    let ctes = match (site.kind, reopen) {
        (DmlKind::Insert, _) => format!("{rows} AS ({})", copy(&spec.new.active.table)?),
        (DmlKind::Update, Some(r)) => {
            // Archived rows whose new status is no longer done cannot be
            // updated in place (todos_archived's CHECK): they move back to
            // todos_active with the updated image, the rest stay archived.
            let mut e = edits.clone();
            let returning_at = e.len() - 1;
            for (n, edit) in r.stay_archived.into_iter().enumerate() {
                e.insert(returning_at + n, edit);
            }
            e.push(target(&spec.new.archived.table));
            let stay = render(cx.src, site.start, site.end, &e).map_err(|e| unsupported(e.to_string()))?;
            let active = format!("{}.{}", spec.new.schema, spec.new.active.table);
            let depth = &spec.derived.depth.column;
            let cols = &r.moved;
            format!(
                "sy_a_{k} AS ({}), sy_r_{k} AS ({stay}), sy_m_{k} AS ({}), \
                 sy_mi_{k} AS (INSERT INTO {active} AS {alias} ({cols}, {depth}) SELECT {cols}, sy_depth FROM sy_m_{k} RETURNING {row_list}), \
                 {rows} AS (SELECT * FROM sy_a_{k} UNION ALL SELECT * FROM sy_r_{k} UNION ALL SELECT * FROM sy_mi_{k})",
                copy(&spec.new.active.table)?,
                r.move_out,
            )
        }
        (DmlKind::Update | DmlKind::Delete, _) => format!(
            "sy_a_{k} AS ({}), sy_r_{k} AS ({}), {rows} AS (SELECT * FROM sy_a_{k} UNION ALL SELECT * FROM sy_r_{k})",
            copy(&spec.new.active.table)?,
            copy(&spec.new.archived.table)?
        ),
    };
    Ok(SiteOut { ctes, rows, returning, alias, shape })
}

/// [`Shape::InPlace`] when the UPDATE's SET list provably assigns none of
/// the columns that move a row; anything unclear is [`Shape::General`].
fn update_shape(cx: &Ctx<'_>, toks: &[(usize, i32)], site: &Site, reads: &[Edit]) -> Shape {
    let Some(set) = toks.iter().find(|(i, d)| *d == 0 && cx.word(*i, "set")).map(|(i, _)| *i) else {
        return Shape::General;
    };
    match set_list::parse(cx, toks, set, site.end, reads) {
        Ok(list) if list.complete && !list.columns.iter().any(|c| mirror::moves_rows(cx.spec, c)) => Shape::InPlace,
        _ => Shape::General,
    }
}

/// How a write_new/new_only UPDATE that sets the status splits on the
/// archive: an edit keeping only rows whose new status is still done, and a
/// DELETE taking the others out with their updated image.
struct Reopen {
    stay_archived: Vec<Edit>,
    move_out: String,
    /// The columns the INSERT into todos_active lists (`set_list::moved_columns`).
    moved: String,
}

/// `None` when the UPDATE does not assign the status (rows stay archived).
fn reopening(
    cx: &Ctx<'_>,
    toks: &[(usize, i32)],
    site: &Site,
    alias: &str,
    reads: &[Edit],
) -> Result<Option<Reopen>, Unsupported> {
    let spec = cx.spec;
    let Some(set) = toks.iter().find(|(i, d)| *d == 0 && cx.word(*i, "set")).map(|(i, _)| *i) else {
        return Ok(None);
    };
    let list = set_list::parse(cx, toks, set, site.end, reads)?;
    let Some((_, status_expr)) = list.assigned.iter().find(|(c, _)| c == "status") else {
        return Ok(None);
    };
    let image = set_list::image(cx, &list.assigned, alias);
    let (where_kw, ret_kw) = (list.where_kw, list.ret_kw);
    let using = match list.from_kw {
        Some(f) => format!(
            " USING {}",
            set_list::piece(cx, reads, cx.toks[f].end, where_kw.or(ret_kw).map_or(site.end, |i| cx.toks[i].start))?
                .trim()
        ),
        None => String::new(),
    };
    let condition = match where_kw {
        Some(w) => format!(
            "({})",
            set_list::piece(cx, reads, cx.toks[w].end, ret_kw.map_or(site.end, |i| cx.toks[i].start))?.trim()
        ),
        None => "true".to_string(),
    };
    let move_out = format!(
        "DELETE FROM {}.{} AS {alias}{using} WHERE {condition} AND ({status_expr}) IS DISTINCT FROM 'done' RETURNING {}, {alias}.{} AS sy_depth",
        spec.new.schema,
        spec.new.archived.table,
        image.join(", "),
        spec.derived.depth.column
    );
    let keep = format!("({status_expr}) IS NOT DISTINCT FROM 'done'");
    let where_end = ret_kw.map_or(site.end, |i| cx.toks[i].start);
    let stay_archived = match where_kw {
        // Parenthesise the client's condition: `a OR b AND keep` would bind wrong.
        Some(w) => vec![Edit::insert(cx.toks[w].end, " ("), Edit::insert(where_end, format!(") AND {keep} "))],
        None => vec![Edit::insert(where_end, format!(" WHERE {keep} "))],
    };
    let moved = set_list::moved_columns(cx, &list.assigned);
    Ok(Some(Reopen { stay_archived, move_out, moved }))
}

/// RETURNING is re-evaluated over the returned row images, so it may only
/// name the target table's columns.
fn check_returning(
    cx: &Ctx<'_>,
    list: &str,
    alias: &str,
    site: &Site,
    site_toks: &[(usize, i32)],
) -> Result<(), Unsupported> {
    let toks = lex::tokens(list);
    let table = &cx.spec.legacy.table;
    for (i, t) in toks.iter().enumerate() {
        if let Some(v) = lex::ident_value(list, t) {
            if ["xmin", "xmax", "cmin", "cmax", "ctid", "tableoid"].contains(&v.as_str()) {
                return Err(unsupported(format!("the system column {v} in RETURNING of a write to todos")));
            }
        }
        let next_is_dot = toks.get(i + 1).is_some_and(|n| n.kind == Kind::Dot);
        let prev_is_dot = i > 0 && toks[i - 1].kind == Kind::Dot;
        if next_is_dot && !prev_is_dot {
            if let Some(v) = lex::ident_value(list, t) {
                if v != alias.to_ascii_lowercase() && v != *alias && v != *table && v != cx.spec.legacy.schema {
                    return Err(unsupported(format!(
                        "RETURNING {v}.… (a column of another table) in a write to todos"
                    )));
                }
            }
        }
        if t.kind == Kind::Op && t.text(list) == "*" && !prev_is_dot {
            let joins = site_toks.iter().any(|(j, d)| {
                *d == 0
                    && ((cx.word(*j, "from")
                        && site.kind == DmlKind::Update
                        && !cx.word(j.wrapping_sub(1), "distinct"))
                        || cx.word(*j, "using"))
            });
            if joins {
                return Err(unsupported("RETURNING * in a write to todos joining other tables"));
            }
        }
    }
    Ok(())
}

/// Emulates the legacy `BEFORE UPDATE` trigger (`NEW.updated_at := now()`) in
/// the SET list starting after token `set`: the client's own assignment gets
/// the value `now()`, or one is appended.
pub(crate) fn touch_edits(
    cx: &Ctx<'_>,
    toks: &[(usize, i32)],
    set: usize,
    site_end: usize,
    touch: &str,
) -> Result<Vec<Edit>, Unsupported> {
    let mut items: Vec<Vec<usize>> = vec![Vec::new()];
    let mut end = site_end;
    for (i, d) in toks.iter().copied().filter(|(i, _)| *i > set) {
        if d == 0 {
            let stop = cx.word(i, "where")
                || cx.word(i, "returning")
                || (cx.word(i, "from") && !cx.word(i.wrapping_sub(1), "distinct"));
            if stop {
                end = cx.toks[i].start;
                break;
            }
            if cx.toks[i].kind == Kind::Comma {
                items.push(Vec::new());
                continue;
            }
        }
        if let Some(last) = items.last_mut() {
            last.push(i);
        }
    }
    let last_tok_end = items.iter().flatten().map(|i| cx.toks[*i].end).max().unwrap_or(end);
    for item in &items {
        let Some(eq) = item.iter().position(|i| cx.toks[*i].kind == Kind::Op && cx.text(*i) == "=") else {
            continue;
        };
        let target = &item[..eq];
        let names: Vec<String> = target.iter().filter_map(|i| lex::ident_value(cx.src, &cx.toks[*i])).collect();
        if !names.iter().any(|n| n == touch) {
            continue;
        }
        if target.len() == 1 {
            let (Some(first), Some(last)) = (item.get(eq + 1), item.last()) else {
                return Err(unsupported("an empty SET item"));
            };
            return Ok(vec![Edit::new(cx.toks[*first].start, cx.toks[*last].end, "now()")]);
        }
        return Err(unsupported(format!("{touch} inside a row-constructor SET in write_new/new_only")));
    }
    Ok(vec![Edit::insert(last_tok_end, format!(", {touch} = now()"))])
}
