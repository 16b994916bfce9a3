//! `--queries FILE`: the app's representative reads, each compared in its
//! legacy form and the form the proxy sends for it, in one snapshot.
//!
//! The file is JSON, an array of `{"name": ..., "sql": ..., "params": [...]}`
//! (or `"param_sets": [[...], ...]` to run one statement with several
//! parameter lists). Parameters `$1`, `$2`, ... are inlined as untyped
//! literals, which PostgreSQL types from their context exactly as it types
//! parameters: strings and numbers become `'...'`, booleans `'true'`/`'false'`,
//! null `NULL`, arrays of scalars a PostgreSQL array literal `'{...}'`, objects
//! their JSON text.
//!
//! The two forms are the rewriter's, not a rewrite of our own: the statement
//! as written (with its `$n`) is planned for the read_new phase, exactly as
//! the proxy plans it, and the plan's shadow comparison
//! ([`ShadowRead`], the statement the proxy's shadow reads send) is what runs,
//! with the parameters inlined into both forms. A read the rewriter refuses,
//! passes through unchanged (it does not read the legacy table, or is served
//! from it) or does not shadow-compare (a cursor, a write, a volatile function,
//! a LIMIT without an order on `id`) is [`NotCheckable`], with the rewriter's
//! reason.

use serde::Deserialize;
use switchyard_rewriter::lex::{self, Kind};
use switchyard_rewriter::shadow::ShadowRead;
use switchyard_rewriter::{planner, Action, MigrationSpec, Phase};

use crate::plan::quote_literal;

/// The phase whose plan is checked: the first one serving reads from the new
/// tables, which a clean verify run admits.
pub const CHECKED_PHASE: Phase = Phase::ReadNew;

/// One representative read, with one parameter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    /// The legacy form and the proxy's new form, parameters inlined; or why
    /// the rewriter gives no new form to compare.
    pub compare: Result<ShadowRead, NotCheckable>,
}

/// Why a read cannot be compared: the rewriter's plan for it in read_new.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not checkable: {0}")]
pub struct NotCheckable(pub String);

/// Why a queries file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryFileError {
    #[error("the queries file is not valid JSON: {0}")]
    Json(String),
    #[error("query {name:?} uses ${index} but has only {given} parameters")]
    MissingParam { name: String, index: usize, given: usize },
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

/// Parses a queries file into comparable queries, each planned under `spec`.
pub fn parse_file(json: &str, spec: &MigrationSpec) -> Result<Vec<Query>, QueryFileError> {
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
        let forms = shadow_forms(spec, &e.sql);
        for (j, params) in sets.iter().enumerate() {
            let name = if many { format!("{name} #{}", j + 1) } else { name.clone() };
            // Every parameter must be given, whether or not the read is checkable.
            inline_params(&e.sql, params, &name)?;
            let compare = match &forms {
                Ok(s) => {
                    Ok(ShadowRead::new(inline_params(&s.legacy, params, &name)?, inline_params(&s.new, params, &name)?))
                }
                Err(why) => Err(why.clone()),
            };
            out.push(Query { name, compare });
        }
    }
    Ok(out)
}

/// The rewriter's two forms of `sql` in the checked phase, with `$n` intact.
pub fn shadow_forms(spec: &MigrationSpec, sql: &str) -> Result<ShadowRead, NotCheckable> {
    let plan = planner::plan(spec, CHECKED_PHASE, sql);
    let reason = plan.reason.clone();
    match (plan.action, plan.shadow) {
        (Action::Rewrite, Some(shadow)) => Ok(shadow),
        (Action::Refuse, _) => Err(NotCheckable(format!("the proxy refuses it: {}", reason.unwrap_or_default()))),
        (Action::Passthrough, _) => Err(NotCheckable(match reason {
            Some(r) => format!("the proxy sends it unchanged in {} ({r})", CHECKED_PHASE.as_str()),
            None => format!("it does not read {}: the proxy sends it unchanged", spec.legacy.table),
        })),
        (Action::Rewrite, None) => Err(NotCheckable(
            "the proxy rewrites it but does not compare its two forms: only a plain query without a cursor, \
             a lock, a volatile function or a LIMIT lacking an ORDER BY on id answers alike on both layouts"
                .into(),
        )),
    }
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
                    Value::String(s) => array_element(s),
                    other => array_element(&other.to_string()),
                })
                .collect();
            quote_literal(&format!("{{{}}}", elems.join(",")))
        }
        Value::Object(_) => quote_literal(&v.to_string()),
    }
}

/// One double-quoted element of an array literal.
fn array_element(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Replaces `$n` parameters (as the rewriter's lexer finds them, so never in
/// a string, a quoted identifier, a comment or a dollar quote) by literals
/// for `params`.
pub fn inline_params(sql: &str, params: &[serde_json::Value], name: &str) -> Result<String, QueryFileError> {
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for tok in lex::tokens(sql).into_iter().filter(|t| t.kind == Kind::Param) {
        let index: usize = tok.text(sql).get(1..).and_then(|n| n.parse().ok()).unwrap_or(0);
        let v = index.checked_sub(1).and_then(|k| params.get(k)).ok_or_else(|| QueryFileError::MissingParam {
            name: name.to_string(),
            index,
            given: params.len(),
        })?;
        out.push_str(sql.get(last..tok.start).unwrap_or_default());
        out.push_str(&literal(v));
        last = tok.end;
    }
    out.push_str(sql.get(last..).unwrap_or_default());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> MigrationSpec {
        MigrationSpec::default_todos()
    }

    /// The read_new plan's shadow forms, as the proxy would send them.
    fn proxy_forms(sql: &str) -> ShadowRead {
        planner::plan(&spec(), Phase::ReadNew, sql).shadow.expect("a shadowed read")
    }

    #[test]
    fn both_forms_are_the_rewriters_with_the_parameters_inlined() {
        let sql = "SELECT id FROM todos WHERE user_id = $1 AND title <> '$1'";
        let q = parse_file(&json!([{"sql": sql, "params": ["u"]}]).to_string(), &spec()).expect("parse");
        let forms = proxy_forms(sql);
        let expected = ShadowRead::new(forms.legacy.replace("= $1", "= 'u'"), forms.new.replace("= $1", "= 'u'"));
        assert_eq!(q[0].compare, Ok(expected));
        assert!(forms.new.contains("todos_archived"), "{}", forms.new);
    }

    #[test]
    fn a_read_the_rewriter_refuses_is_not_checkable_with_its_reason() {
        let sql = "SELECT count(*) FROM todos TABLESAMPLE SYSTEM (50)";
        let reason = planner::plan(&spec(), Phase::ReadNew, sql).reason.expect("a refusal reason");
        let Err(NotCheckable(why)) = shadow_forms(&spec(), sql) else { panic!("checkable") };
        assert!(why.starts_with("the proxy refuses it: "), "{why}");
        assert!(why.ends_with(&reason), "{why}");
    }

    #[test]
    fn reads_without_todos_locks_and_volatile_reads_are_not_checkable() {
        for sql in [
            "SELECT 'from todos' FROM todos_active",
            "SELECT id FROM todos WHERE id = $1 FOR UPDATE",
            "SELECT id FROM todos ORDER BY random()",
            "SELECT id FROM todos LIMIT 5",
            "SELECT 'x FROM todos",
        ] {
            assert!(shadow_forms(&spec(), sql).is_err(), "{sql}");
        }
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
        let second = q[1].compare.as_ref().expect("checkable");
        assert_eq!(second.legacy, "SELECT id FROM todos WHERE user_id = 'b'");
        assert!(second.new.ends_with(") AS todos WHERE user_id = 'b'"), "{}", second.new);
        assert!(matches!(parse_file("{", &spec()), Err(QueryFileError::Json(_))));
    }

    #[test]
    fn a_missing_parameter_refuses_the_file_even_for_an_uncheckable_read() {
        let file = r#"[{"name": "locked", "sql": "SELECT id FROM todos WHERE id = $2 FOR UPDATE", "params": ["a"]}]"#;
        assert_eq!(
            parse_file(file, &spec()),
            Err(QueryFileError::MissingParam { name: "locked".into(), index: 2, given: 1 })
        );
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
            let _ = shadow_forms(&spec(), sql);
            let _ = inline_params(sql, &[], "q");
        }
    }
}
