//! What the SQL parser is shown: the client's text with the PostgreSQL
//! syntax sqlparser 0.64 lacks blanked out, character for character (line
//! breaks kept), so that every span the parser reports still points at the
//! same line and column of the original text, which is what gets spliced.
//!
//! - The lock strengths `FOR NO KEY UPDATE` and `FOR KEY SHARE` are shown as
//!   `FOR UPDATE` and `FOR SHARE` (the words `NO KEY`, `KEY` blanked): the
//!   analysis only needs to know that a lock applies, and rewrites copy the
//!   clause from the original text, strength included.
//! - `DECLARE name [BINARY] [[NO] SCROLL] ... CURSOR [WITH|WITHOUT HOLD] FOR`
//!   is blanked, leaving the cursor's query (PostgreSQL accepts the options
//!   in any order, sqlparser in one). See
//!   <https://www.postgresql.org/docs/current/sql-declare.html> and
//!   <https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE>.

use crate::lex::{self, Kind, Token};

/// A `DECLARE ... CURSOR ... FOR <query>`, as far as planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Where the cursor's query starts.
    pub query_start: usize,
    /// `WITH HOLD`.
    pub hold: bool,
    /// `SCROLL` (not `NO SCROLL`) or `INSENSITIVE`: with a top-level lock
    /// clause PostgreSQL refuses these, as it does `WITH HOLD`.
    pub scroll: bool,
}

/// The text to parse and the cursor it declares, if any.
#[derive(Debug, Clone)]
pub struct Masked {
    pub text: String,
    pub cursor: Option<Cursor>,
}

/// Masks `sql` for the parser.
pub fn mask(sql: &str) -> Masked {
    let toks = lex::tokens(sql);
    let mut blank: Vec<(usize, usize)> = Vec::new();
    let cursor = declare(sql, &toks);
    if let Some(c) = cursor {
        blank.push((toks.first().map_or(0, |t| t.start), c.query_start));
    }
    for (i, t) in toks.iter().enumerate() {
        if !t.is_word(sql, "for") {
            continue;
        }
        let word = |k: usize, w: &str| toks.get(i + k).is_some_and(|t| t.is_word(sql, w));
        if word(1, "no") && word(2, "key") && word(3, "update") {
            blank.push((toks[i + 1].start, toks[i + 2].end));
        } else if word(1, "key") && word(2, "share") {
            blank.push((toks[i + 1].start, toks[i + 1].end));
        }
    }
    if blank.is_empty() {
        return Masked { text: sql.to_string(), cursor };
    }
    let mut text = String::with_capacity(sql.len());
    for (i, ch) in sql.char_indices() {
        let hidden = blank.iter().any(|(s, e)| i >= *s && i < *e);
        text.push(if hidden && ch != '\n' { ' ' } else { ch });
    }
    Masked { text, cursor }
}

/// Recognises `DECLARE name <options> CURSOR [WITH|WITHOUT HOLD] FOR`.
fn declare(sql: &str, toks: &[Token]) -> Option<Cursor> {
    let mut it = toks.iter().peekable();
    if !it.next()?.is_word(sql, "declare") {
        return None;
    }
    if !matches!(it.next()?.kind, Kind::Word | Kind::QuotedIdent) {
        return None;
    }
    let mut scroll = false;
    let mut no = false;
    loop {
        let t = it.next()?;
        let w = t.text(sql).to_ascii_lowercase();
        if t.kind != Kind::Word {
            return None;
        }
        match w.as_str() {
            "cursor" => break,
            "no" => no = true,
            "scroll" => {
                scroll |= !no;
                no = false;
            }
            "insensitive" => scroll = true,
            "binary" | "asensitive" => {}
            _ => return None,
        }
    }
    let mut hold = false;
    let mut t = it.next()?;
    if t.is_word(sql, "with") || t.is_word(sql, "without") {
        hold = t.is_word(sql, "with");
        if !it.next()?.is_word(sql, "hold") {
            return None;
        }
        t = it.next()?;
    }
    if !t.is_word(sql, "for") {
        return None;
    }
    Some(Cursor { query_start: it.next()?.start, hold, scroll })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_strengths_the_parser_lacks_are_blanked_in_place() {
        let s = "SELECT 1 FROM todos FOR NO KEY UPDATE SKIP LOCKED";
        assert_eq!(mask(s).text, "SELECT 1 FROM todos FOR        UPDATE SKIP LOCKED");
        let s = "SELECT 'for key share' FROM todos FOR KEY\nSHARE";
        assert_eq!(mask(s).text, "SELECT 'for key share' FROM todos FOR    \nSHARE");
    }

    #[test]
    fn a_cursor_declaration_leaves_its_query() {
        let s = "DECLARE \"_django_curs_1\" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM todos";
        let m = mask(s);
        assert_eq!(m.text.trim_start(), "SELECT * FROM todos");
        assert_eq!(m.text.chars().count(), s.chars().count());
        let c = m.cursor.expect("a cursor");
        assert_eq!((&s[c.query_start..], c.hold, c.scroll), ("SELECT * FROM todos", true, false));
        let c = mask("declare c binary scroll cursor without hold for values (1)").cursor.expect("a cursor");
        assert_eq!((c.hold, c.scroll), (false, true));
        assert!(mask("DECLARE x int").cursor.is_none());
    }
}
