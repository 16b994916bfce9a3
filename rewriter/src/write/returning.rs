//! What a write's RETURNING list may name once it is re-evaluated over the
//! returned row images.

use super::{unsupported, Ctx, Unsupported};
use crate::classify::{DmlKind, Site};
use crate::lex::{self, Kind};

/// RETURNING is re-evaluated over the returned row images, so it may only
/// name the target table's columns.
pub(super) fn check_returning(
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
