//! Property tests: the fast path never lets a statement naming the table
//! through (checked against sqlparser's own tokenizer), anything it passes is
//! sent untouched in every phase, and no input panics the rewriter.

use proptest::prelude::*;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use switchyard_rewriter::fastpath::{scan, Touch};
use switchyard_rewriter::{planner, Action, MigrationSpec, Phase};

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "select",
    " ",
    "\n",
    "*",
    ",",
    "(",
    ")",
    ";",
    "=",
    "$1",
    "$2",
    "FROM",
    "WHERE",
    "id",
    "title",
    "todos",
    "TODOS",
    "Todos",
    "\"todos\"",
    "\"Todos\"",
    "public.todos",
    "\"public\".\"todos\"",
    "todos_active",
    "my_todos",
    "todos2",
    "t",
    "AS",
    "JOIN",
    "ON",
    "users",
    "'todos'",
    "E'it\\'s todos'",
    "'it''s'",
    "$$todos$$",
    "$tag$ todos $tag$",
    "-- todos\n",
    "/* todos */",
    "/* a /* todos */ b */",
    "UPDATE",
    "SET",
    "DELETE",
    "INSERT INTO",
    "VALUES",
    "RETURNING",
    "WITH",
    "x",
    "AS (",
    "1",
    "'",
    "\"",
    "$",
    "/*",
    "--",
    "e'",
    "U&\"t\"",
    "ORDER BY",
    "LIMIT",
    "FOR UPDATE",
    "::text",
    "now()",
    "ARRAY[1]",
];

fn statement() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24).prop_map(|v| v.join(" "))
}

/// Whether sqlparser's tokenizer sees an identifier that is the table.
fn names_table(sql: &str) -> Option<bool> {
    let toks = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    Some(toks.iter().any(|t| match t {
        Token::Word(w) => match w.quote_style {
            None => w.value.eq_ignore_ascii_case("todos"),
            Some('"') => w.value == "todos",
            Some(_) => false,
        },
        _ => false,
    }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_never_passes_a_statement_naming_the_table(sql in statement()) {
        if scan(&sql, "todos") == Touch::No {
            if let Some(named) = names_table(&sql) {
                prop_assert!(!named, "fast path passed {sql:?}");
            }
        }
    }

    #[test]
    fn whatever_the_fast_path_passes_is_sent_untouched(sql in statement()) {
        let spec = MigrationSpec::default_todos();
        if scan(&sql, "todos") == Touch::No {
            for phase in Phase::ALL {
                let p = planner::plan(&spec, phase, &sql);
                prop_assert_eq!(p.action, Action::Passthrough);
                prop_assert_eq!(&p.sql, &sql);
            }
        }
    }

    #[test]
    fn structured_random_sql_never_panics_the_rewriter(sql in statement()) {
        let spec = MigrationSpec::default_todos();
        for phase in Phase::ALL {
            let p = planner::plan(&spec, phase, &sql);
            if p.action == Action::Passthrough {
                prop_assert_eq!(&p.sql, &sql);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_rewriter(sql in ".{0,200}") {
        let spec = MigrationSpec::default_todos();
        for phase in Phase::ALL {
            let _ = planner::plan(&spec, phase, &sql);
        }
        let _ = scan(&sql, "todos");
        let _ = switchyard_rewriter::lex::split_statements(&sql);
    }

    #[test]
    fn text_around_todos_never_panics_the_rewriter(pre in ".{0,40}", post in ".{0,40}") {
        let spec = MigrationSpec::default_todos();
        let sql = format!("{pre} todos {post}");
        for phase in Phase::ALL {
            let _ = planner::plan(&spec, phase, &sql);
        }
    }
}
