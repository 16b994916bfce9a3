//! Writes: every INSERT, UPDATE or DELETE of the legacy table becomes a
//! data-modifying CTE returning full row images, handed to a mirror function
//! in the same statement (invariant I1, docs/invariants.md).
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

mod reopen;
mod returning;
mod site;
mod touch;

use crate::classify::{Analysis, DmlKind};
use crate::lex::{self, Kind, Token};
use crate::mirror;
use crate::plan::{Action, CommandTag, Phase, Plan, ResultShape};
use crate::read;
use crate::spec::MigrationSpec;
use crate::splice::{render, Edit};
use site::{rewrite_site, SiteOut};
pub(crate) use touch::touch_edits;

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
    let reads = if phase.writes_new() { read::read_edits(a, spec) } else { Vec::new() };
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
    if let Some(sql_out) = roots_statement(sql, a, &outs, spec, phase) {
        return Ok(Plan {
            action: Action::Rewrite,
            sql: sql_out,
            result: ResultShape::as_reported(),
            shadow: None,
            reason: Some(match phase {
                Phase::NewOnly => format!("insert of root todos into {} alone (phase {phase})", spec.new.active.table),
                _ => format!("insert of root todos copied by a plain INSERT in one statement (phase {phase})"),
            }),
            columns: None,
        });
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
    let sql_out = assemble(sql, a, &outs, &reads, main_site, &mirrors)?;
    let result = result_shape(a, &outs, main_site);
    Ok(Plan {
        action: Action::Rewrite,
        sql: sql_out,
        result,
        shadow: None,
        reason: Some(format!(
            "write to {} mirrored by {} in one statement (phase {phase})",
            spec.legacy.table, mirror_fn
        )),
        columns: None,
    })
}

/// A lone INSERT of root todos returning nothing, as one plain statement
/// whose main query writes the side the client does not name (or, in
/// new_only, the client's INSERT on the new table alone): its command tag
/// counts the rows the client inserted, so nothing is hidden or recounted.
fn roots_statement(sql: &str, a: &Analysis, outs: &[SiteOut], spec: &MigrationSpec, phase: Phase) -> Option<String> {
    let [o] = outs else { return None };
    // Without a WITH of the client's, the one site is the statement.
    if !a.ctes.is_empty() || o.shape != mirror::Shape::NewRoots || o.returning.is_some() {
        return None;
    }
    let statement = match mirror::roots_copy(spec, phase, &o.rows) {
        Some(copy) => format!("WITH {} {copy}", o.ctes),
        None => o.bare.clone()?,
    };
    Some(format!("{}{statement}{}", sql.get(..a.start).unwrap_or(""), sql.get(a.end..).unwrap_or("")))
}

/// The statement sent: the rewritten sites' CTEs, the mirror CTEs, and a
/// final SELECT restoring what the client's statement returned.
fn assemble(
    sql: &str,
    a: &Analysis,
    outs: &[SiteOut],
    reads: &[Edit],
    main_site: Option<usize>,
    mirrors: &str,
) -> Result<String, Unsupported> {
    let final_select = |o: &SiteOut| match &o.returning {
        Some(l) => format!("SELECT {l} FROM {} AS {}", o.rows, o.alias),
        None => format!("SELECT count(*) AS sy_count FROM {}", o.rows),
    };
    if a.ctes.is_empty() {
        let k = main_site.ok_or_else(|| unsupported("a write without a target"))?;
        let o = &outs[k];
        return Ok(format!(
            "{}WITH {}{} {}{}",
            sql.get(..a.start).unwrap_or(""),
            o.ctes,
            mirrors,
            final_select(o),
            sql.get(a.end..).unwrap_or("")
        ));
    }
    let mut edits: Vec<Edit> =
        reads.iter().filter(|e| !a.sites.iter().any(|s| e.start >= s.start && e.end <= s.end)).cloned().collect();
    for (site, o) in a.sites.iter().zip(outs) {
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
    render(sql, 0, sql.len(), &edits).map_err(|e| unsupported(e.to_string()))
}

/// What the client sees: the main write's tag and RETURNING columns, or the
/// statement's own result when the writes are all inside CTEs.
fn result_shape(a: &Analysis, outs: &[SiteOut], main_site: Option<usize>) -> ResultShape {
    let Some(k) = main_site else {
        return ResultShape::as_reported();
    };
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
