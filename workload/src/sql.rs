//! Statement parameters that can travel both ways: bound as binary
//! parameters of a prepared statement (extended protocol), or inlined as
//! quoted SQL literals into the statement text (simple protocol).
//!
//! Literals follow the lexical rules of
//! <https://www.postgresql.org/docs/current/sql-syntax-lexical.html>: a
//! string containing a backslash is written as an escape string (`E'...'`)
//! so it means the same whatever `standard_conforming_strings` says.

use std::fmt::Write as _;

use bytes::BytesMut;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use uuid::Uuid;

/// One parameter value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i32),
    BigInt(i64),
    Bool(bool),
    Tags(&'a [String]),
    Json(&'a serde_json::Value),
    OptTs(Option<DateTime<Utc>>),
}

impl ToSql for Val<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Uuid(v) => v.to_sql(ty, out),
            Val::OptUuid(v) => v.to_sql(ty, out),
            Val::Text(v) => v.to_sql(ty, out),
            Val::OptText(v) => v.to_sql(ty, out),
            Val::Int(v) => v.to_sql(ty, out),
            Val::BigInt(v) => v.to_sql(ty, out),
            Val::Bool(v) => v.to_sql(ty, out),
            Val::Tags(v) => v.to_sql(ty, out),
            Val::Json(v) => v.to_sql(ty, out),
            Val::OptTs(v) => v.to_sql(ty, out),
        }
    }

    // The statements are ours and their parameter types known; each inner
    // `to_sql` still rejects a value it cannot encode for `ty`.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl Val<'_> {
    /// Appends the value as a SQL literal.
    fn write_literal(&self, out: &mut String) {
        match self {
            Val::Uuid(v) => typed(out, &v.to_string(), "uuid"),
            Val::OptUuid(Some(v)) => typed(out, &v.to_string(), "uuid"),
            Val::OptUuid(None) => out.push_str("NULL::uuid"),
            Val::Text(v) | Val::OptText(Some(v)) => quote_into(out, v),
            Val::OptText(None) => out.push_str("NULL"),
            Val::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Val::BigInt(v) => {
                let _ = write!(out, "{v}");
            }
            Val::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
            Val::Tags([]) => out.push_str("'{}'::text[]"),
            Val::Tags(tags) => {
                out.push_str("ARRAY[");
                for (i, t) in tags.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    quote_into(out, t);
                }
                out.push_str("]::text[]");
            }
            Val::Json(v) => typed(out, &v.to_string(), "jsonb"),
            Val::OptTs(Some(t)) => typed(out, &t.to_rfc3339_opts(SecondsFormat::Micros, true), "timestamptz"),
            Val::OptTs(None) => out.push_str("NULL::timestamptz"),
        }
    }
}

fn typed(out: &mut String, text: &str, ty: &str) {
    quote_into(out, text);
    out.push_str("::");
    out.push_str(ty);
}

/// Appends `s` as a string literal: quotes doubled, and in an `E'...'`
/// escape string with backslashes doubled when it holds any backslash.
pub(crate) fn quote_into(out: &mut String, s: &str) {
    let escape = s.contains('\\');
    if escape {
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// The statement text with every `$n` replaced by the literal of
/// `params[n - 1]`. The templates are ours: they hold no `$` other than
/// placeholders.
pub(crate) fn inline(template: &str, params: &[Val<'_>]) -> String {
    let mut out = String::with_capacity(template.len() + 32 * params.len());
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            let n: usize = template[start..end].parse().unwrap_or(0);
            if let Some(v) = n.checked_sub(1).and_then(|k| params.get(k)) {
                out.push_str(&template[copied..i]);
                v.write_literal(&mut out);
                copied = end;
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out.push_str(&template[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_backslashes_need_an_escape_string() {
        let mut s = String::new();
        quote_into(&mut s, "it's");
        assert_eq!(s, "'it''s'");
        s.clear();
        quote_into(&mut s, r"C:\temp 'x'");
        assert_eq!(s, r"E'C:\\temp ''x'''");
    }

    #[test]
    fn placeholders_are_replaced_by_literals_longest_number_first() {
        let id = Uuid::nil();
        let tags = vec!["a'b".to_string(), "c".to_string()];
        let params: Vec<Val<'_>> = (1..=10).map(Val::Int).chain([Val::Uuid(id), Val::Tags(&tags)]).collect();
        let sql = inline("SELECT $1, $10, $11, $12, $13", &params);
        assert_eq!(sql, "SELECT 1, 10, '00000000-0000-0000-0000-000000000000'::uuid, ARRAY['a''b', 'c']::text[], $13");
    }

    #[test]
    fn nulls_are_typed_where_the_context_may_not_say() {
        let sql = inline("$1 $2 $3 $4", &[Val::OptUuid(None), Val::OptText(None), Val::OptTs(None), Val::Tags(&[])]);
        assert_eq!(sql, "NULL::uuid NULL NULL::timestamptz '{}'::text[]");
    }
}
