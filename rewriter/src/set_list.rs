//! The SET list of an UPDATE or of an `ON CONFLICT ... DO UPDATE`: which
//! columns it assigns and with what, and the clauses that follow it. Used
//! where a write on the new tables must be split by the row's new status
//! (an archived row that stops being done leaves the archive).

use crate::lex::{self, Kind};
use crate::splice::{render, Edit};
use crate::write::{unsupported, Ctx, Unsupported};

/// A SET list, parsed.
pub(crate) struct SetList {
    /// `(column, expression)` per assignment, read edits applied.
    pub assigned: Vec<(String, String)>,
    /// Every column named on the left of an assignment, paired or not.
    pub columns: Vec<String>,
    /// Every item had the form `target = value`.
    pub complete: bool,
    /// Byte offset where the list ends (the next clause or the site's end).
    pub end: usize,
    /// The top-level FROM, WHERE and RETURNING after it (token indices).
    pub from_kw: Option<usize>,
    pub where_kw: Option<usize>,
    pub ret_kw: Option<usize>,
}

/// The source text of `lo..hi` with the read edits inside it applied.
pub(crate) fn piece(cx: &Ctx<'_>, reads: &[Edit], lo: usize, hi: usize) -> Result<String, Unsupported> {
    let e: Vec<Edit> = reads.iter().filter(|e| e.start >= lo && e.end <= hi).cloned().collect();
    render(cx.src, lo, hi, &e).map_err(|e| unsupported(e.to_string()))
}

/// Parses the SET list after token `set` (`toks` are the site's tokens with
/// their relative depth, `site_end` its end).
pub(crate) fn parse(
    cx: &Ctx<'_>,
    toks: &[(usize, i32)],
    set: usize,
    site_end: usize,
    reads: &[Edit],
) -> Result<SetList, Unsupported> {
    let top: Vec<usize> = toks.iter().filter(|(i, d)| *d == 0 && *i > set).map(|(i, _)| *i).collect();
    let find = |kw: &str| {
        top.iter().copied().find(|i| cx.word(*i, kw) && !(kw == "from" && cx.word(i.wrapping_sub(1), "distinct")))
    };
    let (from_kw, where_kw, ret_kw) = (find("from"), find("where"), find("returning"));
    let end = [from_kw, where_kw, ret_kw].iter().flatten().map(|i| cx.toks[*i].start).min().unwrap_or(site_end);
    // SET items: `column = expression`, split at top-level commas.
    let mut item_start = cx.toks[set].end;
    let mut items = Vec::new();
    for (i, d) in toks.iter().copied().filter(|(i, _)| *i > set && cx.toks[*i].end <= end) {
        if d == 0 && cx.toks[i].kind == Kind::Comma {
            items.push((item_start, cx.toks[i].start));
            item_start = cx.toks[i].end;
        }
    }
    items.push((item_start, end));
    let mut assigned = Vec::new();
    let mut columns = Vec::new();
    let mut complete = true;
    for (lo, hi) in items {
        let Some(eq) = toks
            .iter()
            .find(|(i, d)| *d == 0 && cx.toks[*i].start >= lo && cx.toks[*i].end <= hi && cx.text(*i) == "=")
        else {
            complete = false;
            continue;
        };
        let text = cx.src.get(lo..hi).unwrap_or("");
        let target = text[..cx.toks[eq.0].start - lo].trim();
        columns.extend(lex::tokens(target).iter().filter_map(|t| lex::ident_value(target, t)));
        let value = piece(cx, reads, cx.toks[eq.0].end, hi)?.trim().to_string();
        assigned.extend(assignments(target, value)?);
    }
    Ok(SetList { assigned, columns, complete, end, from_kw, where_kw, ret_kw })
}

/// `column = value`, or `(a, b) = (x, y)` paired up; a sub-select on the
/// right of a row constructor cannot be split (refused if it sets status).
fn assignments(target: &str, value: String) -> Result<Vec<(String, String)>, Unsupported> {
    if !target.starts_with('(') {
        let column = lex::tokens(target).first().and_then(|t| lex::ident_value(target, t)).unwrap_or_default();
        return Ok(vec![(column, value)]);
    }
    let names: Vec<String> = lex::tokens(target).iter().filter_map(|t| lex::ident_value(target, t)).collect();
    let inner = value.strip_prefix('(').and_then(|v| v.strip_suffix(')')).map(crate::write::split_list);
    match inner {
        Some(vals)
            if vals.len() == names.len()
                && !vals.first().is_some_and(|v| v.to_ascii_lowercase().starts_with("select")) =>
        {
            Ok(names.into_iter().zip(vals).collect())
        }
        _ if names.iter().any(|n| n == "status") => {
            Err(unsupported("status set from a sub-select row constructor in write_new/new_only"))
        }
        _ => Ok(Vec::new()),
    }
}

/// The row image after the assignments, as a select list over the target
/// (`alias`): assigned columns take their expression, the touched column
/// `now()`, the rest their current value.
pub(crate) fn image(cx: &Ctx<'_>, assigned: &[(String, String)], alias: &str) -> Vec<String> {
    let touch = cx.spec.legacy.touch_on_update.as_deref();
    cx.spec
        .columns
        .legacy
        .iter()
        .map(|c| match assigned.iter().find(|(a, _)| a == c) {
            _ if Some(c.as_str()) == touch => format!("now() AS {c}"),
            // The CASE gives the expression the column's type, as the SET
            // would (a bare NULL or literal would come out as text).
            // Left out of the moving INSERT (`moved_columns`): the old value
            // here is never read.
            Some((_, expr)) if is_default(expr) => format!("{alias}.{c} AS {c}"),
            Some((_, expr)) => format!("(CASE WHEN false THEN {alias}.{c} ELSE ({expr}) END) AS {c}"),
            None => format!("{alias}.{c} AS {c}"),
        })
        .collect()
}

/// `SET col = DEFAULT`: not an expression a select list may hold.
fn is_default(expr: &str) -> bool {
    expr.trim().eq_ignore_ascii_case("default")
}

/// The columns an INSERT moving rows out of the archive lists: every legacy
/// column but those the SET list assigns `DEFAULT`, which the INSERT leaves
/// to the table's default exactly as the UPDATE would have set it (the
/// touched column keeps its `now()`).
pub(crate) fn moved_columns(cx: &Ctx<'_>, assigned: &[(String, String)]) -> String {
    let touch = cx.spec.legacy.touch_on_update.as_deref();
    let defaulted = |c: &str| Some(c) != touch && assigned.iter().any(|(a, e)| a == c && is_default(e));
    cx.spec.columns.legacy.iter().filter(|c| !defaulted(c)).cloned().collect::<Vec<_>>().join(", ")
}
