//! The fast path: a lexical scan deciding, without parsing, that a statement
//! cannot touch the legacy table.
//!
//! It answers [`Touch::No`] only when no identifier in the text can name the
//! table: no unquoted word equal to it ignoring ASCII case (`TODOS` is
//! `todos`), no quoted identifier equal to it exactly (`"todos"` is, `"Todos"`
//! is not), and nothing it cannot read with certainty (a `U&"..."`
//! identifier, an unterminated quote or comment). Words inside string
//! literals, dollar quotes and comments do not count, and neither do longer
//! names such as `todos_active` or `my_todos`. Schema-qualified and
//! `search_path`-relative names contain the bare name as one identifier, so
//! they are always "may touch"; the parser then decides. Everything answered
//! `No` reaches PostgreSQL byte for byte.

use crate::lex::{Kind, Lexer};

/// The fast path's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Provably does not name the table: forward the bytes unparsed.
    No,
    /// Names the table, or the scan was unsure: the parser decides.
    Maybe,
}

/// Scans `sql` for an identifier equal to `table` (a lower-case name).
pub fn scan(sql: &str, table: &str) -> Touch {
    // Cheapest possible rejection first: the name's letters must occur at all.
    if !contains_ignore_ascii_case(sql.as_bytes(), table.as_bytes()) {
        return Touch::No;
    }
    for t in Lexer::new(sql) {
        match t.kind {
            Kind::Word if t.text(sql).eq_ignore_ascii_case(table) => return Touch::Maybe,
            Kind::QuotedIdent => {
                let s = t.text(sql);
                if s.len() == table.len() + 2 && s.get(1..s.len() - 1) == Some(table) {
                    return Touch::Maybe;
                }
            }
            Kind::UnicodeIdent | Kind::Unterminated => return Touch::Maybe,
            _ => {}
        }
    }
    Touch::No
}

/// Whether the statement is `FETCH`, `MOVE` or `CLOSE`: they name a cursor
/// (the `DECLARE` that opened it was planned), never a table, whatever the
/// cursor is called.
pub fn names_a_cursor(sql: &str) -> bool {
    Lexer::new(sql).next().is_some_and(|t| ["fetch", "move", "close"].iter().any(|w| t.is_word(sql, w)))
}

/// Whether `hay` may contain `needle` (a lower-case ASCII name), ignoring
/// ASCII case, or a `U&` prefix (an identifier that could spell the name with
/// escapes). Folding with `| 0x20` can only add false positives, which the
/// lexer then rules out.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let n = needle.len();
    if hay.len() >= n {
        for i in 0..=hay.len() - n {
            if hay[i] | 0x20 == first && hay[i..i + n].iter().zip(needle).all(|(h, c)| h | 0x20 == *c) {
                return true;
            }
        }
    }
    hay.windows(2).any(|w| w[1] == b'&' && (w[0] | 0x20) == b'u')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(s: &str) -> Touch {
        scan(s, "todos")
    }

    #[test]
    fn names_the_table_in_any_case_or_quoting() {
        for s in [
            "select * from todos",
            "SELECT * FROM TODOS",
            "select * from ToDoS t",
            "select * from \"todos\"",
            "select * from public.todos",
            "select * from \"public\".\"todos\"",
            "update todos set x = 1",
            "select 1; delete from todos",
        ] {
            assert_eq!(touch(s), Touch::Maybe, "{s}");
        }
    }

    #[test]
    fn other_names_literals_and_comments_do_not_count() {
        for s in [
            "select * from users",
            "select * from \"Todos\"",
            "select * from todos_active",
            "select * from my_todos",
            "select 'todos'",
            "select E'it\\'s todos'",
            "select $$ todos $$",
            "select $tag$ from todos $tag$",
            "select 1 -- from todos\n",
            "select 1 /* todos /* nested */ todos */",
            "select \"todos_archived\".id from todos_archived",
            "BEGIN",
        ] {
            assert_eq!(touch(s), Touch::No, "{s}");
        }
    }

    #[test]
    fn cursor_statements_name_a_cursor() {
        for s in ["FETCH FORWARD 100 FROM todos", "move absolute 0 in \"todos\"", " CLOSE todos", "close all"] {
            assert!(names_a_cursor(s), "{s}");
        }
        assert!(!names_a_cursor("SELECT * FROM todos"));
        assert!(!names_a_cursor("DECLARE c CURSOR FOR SELECT * FROM todos"));
    }

    #[test]
    fn unsure_means_maybe() {
        assert_eq!(touch("select U&\"\\0074odos\".id"), Touch::Maybe);
        assert_eq!(touch("select 'todos"), Touch::Maybe);
        assert_eq!(touch("select /* todos"), Touch::Maybe);
    }
}
