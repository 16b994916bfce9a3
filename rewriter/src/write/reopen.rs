//! UPDATEs that reopen archived todos: rows whose new status is no longer
//! done cannot stay in todos_archived (its CHECK), so they move back.

use super::{Ctx, Unsupported};
use crate::classify::Site;
use crate::set_list;
use crate::splice::Edit;

/// How a write_new/new_only UPDATE that sets the status splits on the
/// archive: an edit keeping only rows whose new status is still done, and a
/// DELETE taking the others out with their updated image.
pub(super) struct Reopen {
    pub(super) stay_archived: Vec<Edit>,
    pub(super) move_out: String,
    /// The columns the INSERT into todos_active lists (`set_list::moved_columns`).
    pub(super) moved: String,
}

/// `None` when the UPDATE does not assign the status (rows stay archived).
pub(super) fn reopening(
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
