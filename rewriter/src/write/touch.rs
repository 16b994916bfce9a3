//! The legacy `updated_at` trigger, emulated in the SET list of writes to
//! the new tables.

use super::{unsupported, Ctx, Unsupported};
use crate::lex::{self, Kind};
use crate::splice::Edit;

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
