//! `--queries FILE`: the app's representative reads, each compared in its
//! legacy form and its new-schema form in one snapshot.
//!
//! The file is JSON, an array of `{"name": ..., "sql": ..., "params": [...]}`
//! (or `"param_sets": [[...], ...]` to run one statement with several
//! parameter lists). Parameters `$1`, `$2`, ... are inlined as untyped
//! literals, which PostgreSQL types from their context exactly as it types
//! parameters: strings and numbers become `'...'`, booleans `'true'`/`'false'`,
//! null `NULL`, arrays of scalars a PostgreSQL array literal `'{...}'`, objects
//! their JSON text.
//!
//! The new form is made by a documented textual rewrite, not by the proxy's
//! rewriter: every reference to the table `todos` (unquoted in any case,
//! `"todos"`, or `public.todos`) right after `FROM`, `JOIN`, or a comma in a
//! FROM list becomes the union of `todos_active` and `todos_archived` over the
//! legacy columns, keeping its alias (or taking `todos` as alias when it had
//! none). Strings, quoted identifiers, comments and dollar quotes are skipped,
//! so `'todos'` or `todos_active` are never touched. Queries must be
//! deterministic: a LIMIT without a total order can legitimately answer
//! differently on two physical layouts.

use serde::Deserialize;

use crate::plan::{quote_literal, Spec};

/// One representative read, with one parameter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    /// The read with its parameters inlined (legacy form).
    pub legacy_sql: String,
    /// The same read over the new schema.
    pub new_sql: String,
}

/// Why a queries file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryFileError {
    #[error("the queries file is not valid JSON: {0}")]
    Json(String),
    #[error("query {name:?} uses ${index} but has only {given} parameters")]
    MissingParam { name: String, index: usize, given: usize },
    #[error("query {name:?} does not read the todos table in a FROM or JOIN")]
    NoTodos { name: String },
    #[error("query {name:?} has an unterminated {what}")]
    Unterminated { name: String, what: &'static str },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    sql: String,
    #[serde(default)]
    params: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    param_sets: Option<Vec<Vec<serde_json::Value>>>,
}

/// Parses a queries file into comparable queries.
pub fn parse_file(json: &str, spec: &Spec) -> Result<Vec<Query>, QueryFileError> {
    let entries: Vec<Entry> = serde_json::from_str(json).map_err(|e| QueryFileError::Json(e.to_string()))?;
    let mut out = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let name = e.name.unwrap_or_else(|| format!("#{}", i + 1));
        let sets = match (e.param_sets, e.params) {
            (Some(sets), _) => sets,
            (None, Some(p)) => vec![p],
            (None, None) => vec![vec![]],
        };
        let many = sets.len() > 1;
        for (j, params) in sets.iter().enumerate() {
            let name = if many { format!("{name} #{}", j + 1) } else { name.clone() };
            let legacy_sql = inline_params(&e.sql, params, &name)?;
            let new_sql = to_new_schema(&legacy_sql, spec, &name)?;
            out.push(Query { name, legacy_sql, new_sql });
        }
    }
    Ok(out)
}

/// The untyped SQL literal for a JSON parameter value.
pub fn literal(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => quote_literal(if *b { "true" } else { "false" }),
        Value::Number(n) => quote_literal(&n.to_string()),
        Value::String(s) => quote_literal(s),
        Value::Array(items) => {
            let elems: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::Null => "NULL".to_string(),
                    Value::String(s) => {
                        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                    }
                    other => format!("\"{}\"", other.to_string().replace('\\', "\\\\").replace('"', "\\\"")),
                })
                .collect();
            quote_literal(&format!("{{{}}}", elems.join(",")))
        }
        Value::Object(_) => quote_literal(&v.to_string()),
    }
}

/// A lexical token with its byte span in the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    QuotedIdent(String),
    Param(usize),
    Punct(char),
    /// A string literal, a number or an operator: never a table name.
    Other,
}

/// Splits SQL into tokens with spans, skipping whitespace and comments.
fn lex(sql: &str, name: &str) -> Result<Vec<(Tok, usize, usize)>, QueryFileError> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let unterminated = |what| QueryFileError::Unterminated { name: name.to_string(), what };
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0usize;
            loop {
                if i + 1 >= b.len() {
                    return Err(unterminated("comment"));
                }
                if b[i] == b'/' && b[i + 1] == b'*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b[i + 1] == b'/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'\'' {
            let escapes = out.last().is_some_and(|(t, _, e)| *e == start && *t == Tok::Word("e".into()));
            if escapes {
                out.pop();
            }
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(unterminated("string")),
                    Some(b'\\') if escapes => i += 2,
                    Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push((Tok::Other, if escapes { start - 1 } else { start }, i));
        } else if c == b'"' {
            i += 1;
            let mut ident = String::new();
            loop {
                match b.get(i) {
                    None => return Err(unterminated("quoted identifier")),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        ident.push('"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {
                        let ch_len = sql[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                        ident.push_str(&sql[i..i + ch_len]);
                        i += ch_len;
                    }
                }
            }
            out.push((Tok::QuotedIdent(ident), start, i));
        } else if c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = sql[start + 1..i].parse().unwrap_or(0);
            out.push((Tok::Param(n), start, i));
        } else if c == b'$' {
            // A dollar quote: $$...$$ or $tag$...$tag$.
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if b.get(j) != Some(&b'$') {
                i += 1;
                out.push((Tok::Other, start, i));
                continue;
            }
            let tag = &sql[i..=j];
            match sql[j + 1..].find(tag) {
                Some(k) => i = j + 1 + k + tag.len(),
                None => return Err(unterminated("dollar quote")),
            }
            out.push((Tok::Other, start, i));
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            out.push((Tok::Word(sql[start..i].to_ascii_lowercase()), start, i));
        } else if matches!(c, b'(' | b')' | b',' | b'.' | b';') {
            i += 1;
            out.push((Tok::Punct(c as char), start, i));
        } else {
            i += 1;
            while i < b.len() && !sql.is_char_boundary(i) {
                i += 1;
            }
            out.push((Tok::Other, start, i));
        }
    }
    Ok(out)
}

/// Replaces `$n` parameters by literals for `params`.
pub fn inline_params(sql: &str, params: &[serde_json::Value], name: &str) -> Result<String, QueryFileError> {
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (tok, s, e) in lex(sql, name)? {
        if let Tok::Param(n) = tok {
            let v = n.checked_sub(1).and_then(|k| params.get(k)).ok_or_else(|| QueryFileError::MissingParam {
                name: name.to_string(),
                index: n,
                given: params.len(),
            })?;
            out.push_str(&sql[last..s]);
            out.push_str(&literal(v));
            last = e;
        }
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

/// Words after a table reference that are not its alias.
const NOT_ALIAS: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "window",
    "union",
    "intersect",
    "except",
    "for",
    "fetch",
    "returning",
    "tablesample",
    "lateral",
];

/// Words that start a clause: a comma after one of them is not in a FROM list.
const CLAUSES: &[&str] = &[
    "select",
    "from",
    "where",
    "group",
    "order",
    "having",
    "limit",
    "offset",
    "window",
    "on",
    "using",
    "returning",
    "set",
    "values",
];

fn is_todos(t: &Tok, legacy: &str) -> bool {
    match t {
        Tok::Word(w) => w == legacy,
        Tok::QuotedIdent(q) => q == legacy,
        _ => false,
    }
}

/// Rewrites the legacy read to read the new schema (see the module doc).
pub fn to_new_schema(sql: &str, spec: &Spec, name: &str) -> Result<String, QueryFileError> {
    let toks = lex(sql, name)?;
    let rel = spec.new_relation();
    // The clause keyword in force at each parenthesis depth.
    let mut clause: Vec<&str> = vec![""];
    let mut out = String::with_capacity(sql.len() * 2);
    let mut last = 0;
    let mut replaced = 0;
    let mut i = 0;
    while i < toks.len() {
        let (tok, s, _) = &toks[i];
        match tok {
            Tok::Punct('(') => clause.push(""),
            Tok::Punct(')') if clause.len() > 1 => {
                clause.pop();
            }
            Tok::Word(w) => {
                if let Some(c) = CLAUSES.iter().find(|c| *c == w) {
                    if let Some(top) = clause.last_mut() {
                        *top = c;
                    }
                }
            }
            _ => {}
        }
        // A table reference: `todos` or `public.todos` (not `x.todos.col`).
        let (ref_start, name_idx) = match (tok, toks.get(i + 1), toks.get(i + 2)) {
            (Tok::Word(w), Some((Tok::Punct('.'), _, _)), Some((t, _, _)))
                if w == "public" && is_todos(t, &spec.legacy) =>
            {
                (*s, i + 2)
            }
            (t, _, _) if is_todos(t, &spec.legacy) => (*s, i),
            _ => {
                i += 1;
                continue;
            }
        };
        let prev = if i > 0 { Some(&toks[i - 1].0) } else { None };
        let in_from = match prev {
            Some(Tok::Word(w)) => w == "from" || w == "join",
            Some(Tok::Punct(',')) => clause.last().is_some_and(|c| *c == "from"),
            _ => false,
        };
        let qualified_further = matches!(toks.get(name_idx + 1), Some((Tok::Punct('.'), _, _)));
        if !in_from || qualified_further {
            i += 1;
            continue;
        }
        let has_alias = match toks.get(name_idx + 1) {
            Some((Tok::Word(w), _, _)) => w == "as" || !NOT_ALIAS.contains(&w.as_str()),
            Some((Tok::QuotedIdent(_), _, _)) => true,
            _ => false,
        };
        out.push_str(&sql[last..ref_start]);
        out.push_str(&rel);
        if !has_alias {
            out.push(' ');
            out.push_str(&crate::plan::quote_ident(&spec.legacy));
        }
        last = toks[name_idx].2;
        replaced += 1;
        i = name_idx + 1;
    }
    if replaced == 0 {
        return Err(QueryFileError::NoTodos { name: name.to_string() });
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec { columns: vec!["id".into(), "title".into()], ..Spec::default() }
    }

    const REL: &str =
        "(SELECT \"id\", \"title\" FROM \"todos_active\" UNION ALL SELECT \"id\", \"title\" FROM \"todos_archived\")";

    fn rw(sql: &str) -> String {
        to_new_schema(sql, &spec(), "t").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bare_reference_gets_the_table_name_as_alias() {
        assert_eq!(
            rw("SELECT todos.id FROM todos WHERE x = 1"),
            format!("SELECT todos.id FROM {REL} \"todos\" WHERE x = 1")
        );
    }

    #[test]
    fn an_alias_is_kept() {
        assert_eq!(rw("select t.id from public.TODOS as t"), format!("select t.id from {REL} as t"));
        assert_eq!(
            rw("SELECT * FROM \"todos\" t JOIN todos c ON c.parent_todo_id = t.id"),
            format!("SELECT * FROM {REL} t JOIN {REL} c ON c.parent_todo_id = t.id")
        );
    }

    #[test]
    fn comma_joins_and_subqueries_are_rewritten() {
        assert_eq!(
            rw("SELECT 1 FROM users u, todos WHERE u.id IN (SELECT user_id FROM todos)"),
            format!("SELECT 1 FROM users u, {REL} \"todos\" WHERE u.id IN (SELECT user_id FROM {REL} \"todos\")")
        );
    }

    #[test]
    fn strings_comments_columns_and_other_tables_are_left_alone() {
        let sql = "SELECT 'from todos', todos.title /* from todos */ FROM todos_active, projects -- from todos\n WHERE x.todos = 1";
        assert_eq!(to_new_schema(sql, &spec(), "q"), Err(QueryFileError::NoTodos { name: "q".into() }));
        let sql = "SELECT $$ FROM todos $$, e'it\\'s from todos' FROM todos";
        assert_eq!(rw(sql), format!("SELECT $$ FROM todos $$, e'it\\'s from todos' FROM {REL} \"todos\""));
    }

    #[test]
    fn a_recursive_hierarchy_walk_is_rewritten_in_both_places() {
        let sql = "WITH RECURSIVE tree AS (SELECT id, title FROM todos WHERE id = $1 UNION ALL SELECT c.id, c.title FROM todos c JOIN tree ON c.parent_todo_id = tree.id) SELECT * FROM tree";
        let out = rw(sql);
        assert_eq!(out.matches(REL).count(), 2, "{out}");
    }

    #[test]
    fn params_become_untyped_literals() {
        let sql = "SELECT * FROM todos WHERE user_id = $1 AND title <> '$2' AND tags && $2 AND priority > $3 AND ai_generated = $4 AND metadata @> $5 AND due_date IS NOT DISTINCT FROM $6 AND $10 IS NULL";
        let params = [
            json!("u'1"),
            json!(["a", "b\"c"]),
            json!(2),
            json!(true),
            json!({"k": 1}),
            json!(null),
            json!(0),
            json!(0),
            json!(0),
            json!("x"),
        ];
        let out = inline_params(sql, &params, "q").expect("inline");
        assert_eq!(
            out,
            "SELECT * FROM todos WHERE user_id = 'u''1' AND title <> '$2' AND tags && '{\"a\",\"b\\\"c\"}' AND priority > '2' AND ai_generated = 'true' AND metadata @> '{\"k\":1}' AND due_date IS NOT DISTINCT FROM NULL AND 'x' IS NULL"
        );
        assert_eq!(
            inline_params("SELECT $2", &[json!(1)], "q"),
            Err(QueryFileError::MissingParam { name: "q".into(), index: 2, given: 1 })
        );
    }

    #[test]
    fn a_file_with_param_sets_gives_one_query_per_set() {
        let file = r#"[{"name": "by user", "sql": "SELECT id FROM todos WHERE user_id = $1", "param_sets": [["a"], ["b"]]},
                       {"sql": "SELECT count(*) FROM todos"}]"#;
        let q = parse_file(file, &spec()).expect("parse");
        assert_eq!(q.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), vec!["by user #1", "by user #2", "#2"]);
        assert_eq!(q[1].legacy_sql, "SELECT id FROM todos WHERE user_id = 'b'");
        assert_eq!(q[1].new_sql, format!("SELECT id FROM {REL} \"todos\" WHERE user_id = 'b'"));
        assert!(matches!(parse_file("{", &spec()), Err(QueryFileError::Json(_))));
    }

    #[test]
    fn unterminated_input_is_an_error_not_a_panic() {
        for sql in [
            "SELECT 'x FROM todos",
            "SELECT \"x FROM todos",
            "SELECT /* FROM todos",
            "SELECT $a$ FROM todos",
            "SELECT 1 FROM todos é",
            "SELECT e'\\",
        ] {
            let _ = to_new_schema(sql, &spec(), "q");
            let _ = inline_params(sql, &[], "q");
        }
    }
}
