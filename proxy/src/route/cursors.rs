//! Cursors declared over a rewritten read, so that their FETCH answers get
//! legacy todos' table OID and column numbers too ([`crate::route::row_origin`]).
//!
//! `DECLARE c CURSOR FOR SELECT ... FROM todos` is rewritten where reads
//! come from the new tables; a later `FETCH 10 FROM c` is the client's own
//! text, passed through, but PostgreSQL describes its rows as the rewritten
//! query's (computed columns, 0/0). [`Cursors`] remembers which cursor names
//! were declared over a rewritten read and forgets them as PostgreSQL does:
//! `CLOSE name`, `CLOSE ALL`, `DISCARD ALL`, a later DECLARE of the same
//! name, and the end of the transaction for a cursor without HOLD. See
//! <https://www.postgresql.org/docs/current/sql-declare.html> and
//! <https://www.postgresql.org/docs/current/sql-fetch.html>. Pure logic.

use std::collections::HashMap;

use switchyard_rewriter::lex::{self, Kind, Token};

/// What a statement does to cursors, as far as their RowDescription goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CursorStatement {
    Declare {
        name: String,
        hold: bool,
    },
    /// FETCH or MOVE.
    Fetch {
        name: String,
    },
    Close {
        name: String,
    },
    /// `CLOSE ALL` or `DISCARD ALL`.
    CloseAll,
}

/// A cursor declared over a rewritten read.
#[derive(Debug, Clone, Copy)]
struct Declared {
    hold: bool,
    /// Its 0/0 columns may be found in todos by name (no set operation).
    origins_by_name: bool,
}

/// The session's cursors declared over rewritten reads.
#[derive(Debug, Default)]
pub struct Cursors {
    declared: HashMap<String, Declared>,
}

impl Cursors {
    /// Whether `sql` (one Query message, maybe several statements) may
    /// declare, fetch from or close a cursor this session tracks: cheap, so
    /// that traffic passed through untouched stays untouched.
    pub fn concerns(&self, sql: &str) -> bool {
        self.tracking() || contains_word_start(sql, "declare")
    }

    /// Whether any cursor is tracked. Statements passed through untouched can
    /// only matter to cursors already tracked: they never declare one.
    pub fn tracking(&self) -> bool {
        !self.declared.is_empty()
    }

    /// Sees one statement the client sent. `rewritten`: the statement was
    /// rewritten, with `origins_by_name` as [`crate::route::row_origin::origins_by_name`]
    /// says for it. Returns, for a FETCH or MOVE from a cursor declared over
    /// a rewritten read, that cursor's `origins_by_name`: its answer needs
    /// legacy's origins.
    pub fn statement(&mut self, sql: &str, rewritten: Option<bool>) -> Option<bool> {
        match classify(sql)? {
            CursorStatement::Declare { name, hold } => {
                match rewritten {
                    Some(origins_by_name) => self.declared.insert(name, Declared { hold, origins_by_name }),
                    None => self.declared.remove(&name),
                };
                None
            }
            CursorStatement::Fetch { name } => self.declared.get(&name).map(|d| d.origins_by_name),
            CursorStatement::Close { name } => {
                self.declared.remove(&name);
                None
            }
            CursorStatement::CloseAll => {
                self.declared.clear();
                None
            }
        }
    }

    /// For a FETCH or MOVE from a tracked cursor: its `origins_by_name`
    /// (without changing anything: a Describe of the statement).
    pub fn fetches(&self, sql: &str) -> Option<bool> {
        match classify(sql)? {
            CursorStatement::Fetch { name } => self.declared.get(&name).map(|d| d.origins_by_name),
            _ => None,
        }
    }

    /// The session is outside any transaction block: cursors without HOLD are gone.
    pub fn transaction_ended(&mut self) {
        self.declared.retain(|_, d| d.hold);
    }
}

/// Whether `sql` (one statement) declares, fetches from or closes a cursor.
pub fn about_cursors(sql: &str) -> bool {
    classify(sql).is_some()
}

fn contains_word_start(sql: &str, word: &str) -> bool {
    sql.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// What `sql` (one statement) does to cursors, if anything.
fn classify(sql: &str) -> Option<CursorStatement> {
    let toks: Vec<Token> = lex::tokens(sql).into_iter().filter(|t| t.kind != Kind::Semi).collect();
    let first = toks.first()?;
    let word = |t: &Token, w: &str| t.is_word(sql, w);
    if word(first, "declare") {
        let name = lex::ident_value(sql, toks.get(1)?)?;
        return Some(CursorStatement::Declare { name, hold: declared_with_hold(sql)? });
    }
    if word(first, "discard") {
        return toks.get(1).is_some_and(|t| word(t, "all")).then_some(CursorStatement::CloseAll);
    }
    let last = toks.last()?;
    if word(first, "close") {
        if toks.len() == 2 && word(last, "all") {
            return Some(CursorStatement::CloseAll);
        }
        return Some(CursorStatement::Close { name: lex::ident_value(sql, last)? });
    }
    if (word(first, "fetch") || word(first, "move")) && toks.len() >= 2 {
        return Some(CursorStatement::Fetch { name: lex::ident_value(sql, last)? });
    }
    None
}

/// Whether a DECLARE is `WITH HOLD`; None when it declares no cursor.
fn declared_with_hold(sql: &str) -> Option<bool> {
    switchyard_rewriter::mask::mask(sql).cursor.map(|c| c.hold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_statements_are_recognised_with_postgresql_name_folding() {
        assert_eq!(
            classify("DECLARE \"_django_curs_1\" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM todos"),
            Some(CursorStatement::Declare { name: "_django_curs_1".into(), hold: true })
        );
        assert_eq!(
            classify("declare C binary cursor for select 1;"),
            Some(CursorStatement::Declare { name: "c".into(), hold: false })
        );
        assert_eq!(classify("FETCH FORWARD 100 FROM \"Cur\""), Some(CursorStatement::Fetch { name: "Cur".into() }));
        assert_eq!(classify("fetch next in c;"), Some(CursorStatement::Fetch { name: "c".into() }));
        assert_eq!(classify("MOVE ABSOLUTE 0 IN c"), Some(CursorStatement::Fetch { name: "c".into() }));
        assert_eq!(classify("CLOSE c"), Some(CursorStatement::Close { name: "c".into() }));
        assert_eq!(classify("close all"), Some(CursorStatement::CloseAll));
        assert_eq!(classify("DISCARD ALL"), Some(CursorStatement::CloseAll));
        assert_eq!(classify("DISCARD PLANS"), None);
        assert_eq!(classify("DECLARE x int"), None);
        assert_eq!(classify("SELECT * FROM todos"), None);
    }

    #[test]
    fn cursors_are_forgotten_as_postgresql_forgets_them() {
        let mut c = Cursors::default();
        assert!(c.concerns("  declare a cursor for select 1"));
        assert!(!c.concerns("SELECT 1"));
        c.statement("DECLARE a CURSOR FOR SELECT * FROM todos", Some(true));
        c.statement("DECLARE h CURSOR WITH HOLD FOR SELECT id FROM todos UNION SELECT id FROM todos", Some(false));
        assert!(c.concerns("SELECT 1"));
        assert_eq!(c.statement("FETCH 10 FROM a", None), Some(true));
        assert_eq!(c.fetches("FETCH 10 FROM h"), Some(false));
        c.transaction_ended();
        assert_eq!(c.fetches("FETCH 10 FROM a"), None);
        assert_eq!(c.fetches("FETCH 10 FROM h"), Some(false));
        c.statement("CLOSE h", None);
        assert_eq!(c.fetches("FETCH 10 FROM h"), None);
        c.statement("DECLARE a CURSOR FOR SELECT * FROM todos", Some(true));
        c.statement("DECLARE a CURSOR FOR SELECT 1", None);
        assert_eq!(c.fetches("FETCH a"), None);
        c.statement("DECLARE b CURSOR WITH HOLD FOR SELECT * FROM todos", Some(true));
        c.statement("DISCARD ALL", None);
        assert_eq!(c.fetches("FETCH b"), None);
    }
}
