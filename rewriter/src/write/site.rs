//! One write site rewritten: its RETURNING made to return full row images,
//! and in write_new/new_only its target replaced by the new tables.

use super::reopen::{reopening, Reopen};
use super::returning::check_returning;
use super::{touch_edits, unsupported, Ctx, Unsupported};
use crate::classify::{DmlKind, Site};
use crate::mirror::{self, Shape};
use crate::set_list;
use crate::splice::{render, Edit};
use crate::upsert;

/// One site, rewritten.
pub(super) struct SiteOut {
    /// CTE definitions, comma-separated, the last one named `rows`.
    pub(super) ctes: String,
    pub(super) rows: String,
    /// The client's RETURNING list, as written.
    pub(super) returning: Option<String>,
    pub(super) alias: String,
    /// What the write may change, for the mirror.
    pub(super) shape: Shape,
    /// An INSERT of roots without the client's RETURNING, in write_new and
    /// new_only: as sent to the new table without the RETURNING the mirror
    /// reads (new_only's whole statement when it stands alone).
    pub(super) bare: Option<String>,
}

pub(super) fn rewrite_site(cx: &Ctx<'_>, site: &Site, k: usize, reads: &[Edit]) -> Result<SiteOut, Unsupported> {
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
    let parent = &spec.derived.depth.parent_column;
    let shape = match site.kind {
        DmlKind::Insert
            if !site.on_conflict && !site.insert_columns.is_empty() && !site.insert_columns.contains(parent) =>
        {
            Shape::NewRoots
        }
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
        return Ok(SiteOut { ctes: format!("{rows} AS ({body})"), rows, returning, alias, shape, bare: None });
    }
    // New-schema targets.
    if site.kind == DmlKind::Insert && site.on_conflict {
        if let Some(ctes) = upsert::rewrite(cx, &toks, site, k, reads, &alias, &row_list)? {
            return Ok(SiteOut { ctes, rows, returning, alias, shape, bare: None });
        }
    }
    edits.extend(touch(cx, &toks, site)?);
    edits.push(returning_edit);
    let reopen = match site.kind {
        DmlKind::Update => reopening(cx, &toks, site, &alias, reads)?,
        _ => None,
    };
    let targets = NewTargets { cx, site, k, edits, alias: &alias, row_list: &row_list, rows: &rows };
    let ctes = targets.ctes(reopen)?;
    let bare = match shape {
        Shape::NewRoots if returning.is_none() => Some(targets.bare(&spec.new.active.table)?),
        _ => None,
    };
    Ok(SiteOut { ctes, rows, returning, alias, shape, bare })
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

/// The emulated `updated_at` trigger's edits for an UPDATE's SET list or an
/// upsert's DO UPDATE SET list.
fn touch(cx: &Ctx<'_>, toks: &[(usize, i32)], site: &Site) -> Result<Vec<Edit>, Unsupported> {
    let Some(touch) = &cx.spec.legacy.touch_on_update else {
        return Ok(Vec::new());
    };
    let set_kw = match site.kind {
        DmlKind::Update => toks.iter().find(|(i, d)| *d == 0 && cx.word(*i, "set")).map(|(i, _)| *i),
        DmlKind::Insert => toks
            .iter()
            .find(|(i, d)| *d == 0 && cx.word(*i, "do") && cx.word(i + 1, "update") && cx.word(i + 2, "set"))
            .map(|(i, _)| i + 2),
        DmlKind::Delete => None,
    };
    match set_kw {
        Some(set) => touch_edits(cx, toks, set, site.end, touch),
        None => Ok(Vec::new()),
    }
}

/// A write site aimed at the new tables: copies of the client's statement,
/// one per target table, combined into the CTEs returning its row images.
struct NewTargets<'a> {
    cx: &'a Ctx<'a>,
    site: &'a Site,
    k: usize,
    /// The site's edits, the RETURNING edit last.
    edits: Vec<Edit>,
    alias: &'a str,
    row_list: &'a str,
    rows: &'a str,
}

impl NewTargets<'_> {
    fn target(&self, table: &str) -> Edit {
        let (spec, site) = (self.cx.spec, self.site);
        let name = format!("{}.{}", spec.new.schema, table);
        match &site.target.alias {
            Some(_) => Edit::new(site.target.start, site.target.end, name),
            None => Edit::new(site.target.start, site.target.end, format!("{name} AS {}", spec.legacy.table)),
        }
    }

    fn copy(&self, table: &str) -> Result<String, Unsupported> {
        self.render_with(&self.edits, table)
    }

    /// As [`Self::copy`], without the RETURNING edit (the last one).
    fn bare(&self, table: &str) -> Result<String, Unsupported> {
        self.render_with(&self.edits[..self.edits.len() - 1], table)
    }

    fn render_with(&self, edits: &[Edit], table: &str) -> Result<String, Unsupported> {
        let mut e = edits.to_vec();
        e.push(self.target(table));
        render(self.cx.src, self.site.start, self.site.end, &e).map_err(|e| unsupported(e.to_string()))
    }

    fn ctes(&self, reopen: Option<Reopen>) -> Result<String, Unsupported> {
        let (spec, k, rows) = (self.cx.spec, self.k, self.rows);
        Ok(match (self.site.kind, reopen) {
            (DmlKind::Insert, _) => format!("{rows} AS ({})", self.copy(&spec.new.active.table)?),
            (DmlKind::Update, Some(r)) => self.reopened(r)?,
            (DmlKind::Update | DmlKind::Delete, _) => format!(
                "sy_a_{k} AS ({}), sy_r_{k} AS ({}), {rows} AS (SELECT * FROM sy_a_{k} UNION ALL SELECT * FROM sy_r_{k})",
                self.copy(&spec.new.active.table)?,
                self.copy(&spec.new.archived.table)?
            ),
        })
    }

    /// Archived rows whose new status is no longer done cannot be updated in
    /// place (todos_archived's CHECK): they move back to todos_active with
    /// the updated image, the rest stay archived.
    fn reopened(&self, r: Reopen) -> Result<String, Unsupported> {
        let (cx, site, spec, k) = (self.cx, self.site, self.cx.spec, self.k);
        let (alias, row_list, rows) = (self.alias, self.row_list, self.rows);
        let mut e = self.edits.clone();
        let returning_at = e.len() - 1;
        for (n, edit) in r.stay_archived.into_iter().enumerate() {
            e.insert(returning_at + n, edit);
        }
        e.push(self.target(&spec.new.archived.table));
        let stay = render(cx.src, site.start, site.end, &e).map_err(|e| unsupported(e.to_string()))?;
        let active = format!("{}.{}", spec.new.schema, spec.new.active.table);
        let depth = &spec.derived.depth.column;
        let cols = &r.moved;
        Ok(format!(
            "sy_a_{k} AS ({}), sy_r_{k} AS ({stay}), sy_m_{k} AS ({}), \
             sy_mi_{k} AS (INSERT INTO {active} AS {alias} ({cols}, {depth}) SELECT {cols}, sy_depth FROM sy_m_{k} RETURNING {row_list}), \
             {rows} AS (SELECT * FROM sy_a_{k} UNION ALL SELECT * FROM sy_r_{k} UNION ALL SELECT * FROM sy_mi_{k})",
            self.copy(&spec.new.active.table)?,
            r.move_out,
        ))
    }
}
