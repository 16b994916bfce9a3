//! What a client would have been told by the legacy table: the new schema's
//! relation, constraint and column facts mapped back to legacy `todos`
//! (invariant I5).
//!
//! A rewritten statement that fails in the new tables (or in the mirror
//! function that writes them) gets PostgreSQL's error for *those* tables:
//! `todos_active_part_13`, `todos_active_user_id_fkey`, `Key (id, user_id)`,
//! a failing row with the `depth` column, CONTEXT lines of
//! `switchyard.upsert_todos_new`. [`LegacyNames`] is built once from the
//! catalog ([`CatalogFacts`], loaded by [`crate::route::catalog`]): every relation
//! of the new tables' partition trees maps to legacy `todos`, every
//! constraint to the legacy constraint of the same kind over the same
//! columns. [`LegacyNames::error_response`] then rewrites an ErrorResponse
//! body field by field. Pure logic: no I/O. Applied only to the answers of
//! statements the router rewrote, never to passthrough traffic.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};

use crate::protocol::{tags, write_message};

/// One relation as the catalog describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationFacts {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// (attribute number, column name), in attribute order.
    pub columns: Vec<(i16, String)>,
    /// Each column's type OID and type modifier, aligned with `columns`
    /// (may be empty where types are not needed).
    pub types: Vec<(u32, i32)>,
    pub constraints: Vec<ConstraintFacts>,
}

/// One constraint of a relation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConstraintFacts {
    pub name: String,
    /// `p`, `u`, `f`, `c`, … as in pg_constraint.contype.
    pub kind: char,
    /// The constrained columns, in key order.
    pub columns: Vec<String>,
    /// The referenced relation of a foreign key, else 0.
    pub references: u32,
}

/// The legacy table and every relation of the new tables' partition trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFacts {
    pub legacy: RelationFacts,
    pub new: Vec<RelationFacts>,
    /// The source text of the proxy's own functions (schema `switchyard`):
    /// a CONTEXT entry quoting a statement from them is the proxy's.
    pub own_function_sources: Vec<String>,
}

/// A new-schema constraint's legacy counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LegacyConstraint {
    name: String,
    new_columns: Vec<String>,
    columns: Vec<String>,
}

/// A new relation's legacy view.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LegacyRelation {
    /// Columns the new relation has after the legacy ones (`depth`, …):
    /// how many values a "Failing row contains" detail has too many. None
    /// when its columns do not begin with the legacy ones in order.
    extra_columns: Option<usize>,
    /// The new relation's attribute number -> legacy attribute number.
    attnums: HashMap<i16, i16>,
}

/// The mapping from the new schema's names to legacy's; empty (it changes
/// nothing) when the new tables do not exist.
#[derive(Debug, Clone, Default)]
pub struct LegacyNames {
    legacy_schema: String,
    legacy_table: String,
    legacy_oid: u32,
    relations: HashMap<String, LegacyRelation>,
    relation_oids: HashMap<u32, String>,
    constraints: HashMap<String, LegacyConstraint>,
    own_function_sources: Vec<String>,
    /// Legacy column name -> (attribute number, type OID, type modifier).
    legacy_columns: HashMap<String, (i16, u32, i32)>,
}

impl LegacyNames {
    pub fn new(facts: &CatalogFacts) -> LegacyNames {
        let legacy = &facts.legacy;
        let legacy_names: Vec<&str> = legacy.columns.iter().map(|(_, n)| n.as_str()).collect();
        let legacy_attnum: HashMap<&str, i16> = legacy.columns.iter().map(|(a, n)| (n.as_str(), *a)).collect();
        let mut names = LegacyNames {
            legacy_schema: legacy.schema.clone(),
            legacy_table: legacy.name.clone(),
            legacy_oid: legacy.oid,
            own_function_sources: facts.own_function_sources.clone(),
            legacy_columns: legacy
                .columns
                .iter()
                .zip(&legacy.types)
                .map(|((a, n), (t, m))| (n.clone(), (*a, *t, *m)))
                .collect(),
            ..LegacyNames::default()
        };
        for rel in &facts.new {
            let cols: Vec<&str> = rel.columns.iter().map(|(_, n)| n.as_str()).collect();
            let extra_columns = cols.starts_with(&legacy_names).then(|| cols.len() - legacy_names.len());
            let attnums = rel.columns.iter().filter_map(|(a, n)| Some((*a, *legacy_attnum.get(n.as_str())?))).collect();
            names.relations.insert(rel.name.clone(), LegacyRelation { extra_columns, attnums });
            names.relation_oids.insert(rel.oid, rel.name.clone());
            for c in &rel.constraints {
                if let Some(l) = counterpart(c, &legacy.constraints) {
                    let mapped = LegacyConstraint {
                        name: l.name.clone(),
                        new_columns: c.columns.clone(),
                        columns: l.columns.clone(),
                    };
                    names.constraints.insert(c.name.clone(), mapped);
                }
            }
        }
        names
    }

    /// Whether there is anything to map.
    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// The legacy table OID and attribute number for a column a new
    /// relation reports as its origin, when that column is a legacy one.
    pub fn legacy_origin(&self, table: u32, attnum: i16) -> Option<(u32, i16)> {
        let rel = self.relations.get(self.relation_oids.get(&table)?)?;
        Some((self.legacy_oid, *rel.attnums.get(&attnum)?))
    }

    /// The legacy table's OID and the attribute number of its column
    /// `name`, when that column has this type and type modifier.
    pub fn legacy_column(&self, name: &str, type_oid: u32, typmod: i32) -> Option<(u32, i16)> {
        let (attnum, t, m) = self.legacy_columns.get(name)?;
        (*t == type_oid && *m == typmod).then_some((self.legacy_oid, *attnum))
    }

    /// An ErrorResponse body (its fields) rewritten to legacy's names, as a
    /// whole ErrorResponse message; None when nothing in it names the new
    /// schema or the proxy's functions.
    pub fn error_response(&self, body: &[u8]) -> Option<BytesMut> {
        let fields = parse_fields(body)?;
        let mut changed = false;
        let mut relation: Option<&LegacyRelation> = None;
        let mut constraint: Option<&LegacyConstraint> = None;
        for (code, value) in &fields {
            match code {
                b't' => relation = self.relations.get(value.as_str()),
                b'n' => constraint = self.constraints.get(value.as_str()),
                _ => {}
            }
        }
        let mut out_fields = Vec::with_capacity(fields.len());
        let mut dropped_context = false;
        for (code, value) in &fields {
            let mapped = match code {
                b's' if relation.is_some() => Some(self.legacy_schema.clone()),
                b't' if relation.is_some() => Some(self.legacy_table.clone()),
                b'n' => constraint.map(|c| c.name.clone()),
                b'M' => Some(self.rename_quoted(value)),
                b'D' => Some(self.detail(value, relation, constraint)),
                b'W' => {
                    let kept = self.own_context_removed(value);
                    dropped_context |= kept.as_deref() != Some(value.as_str());
                    match kept {
                        Some(k) => Some(k),
                        None => {
                            changed = true;
                            continue;
                        }
                    }
                }
                // The internal query and its position belong to the removed context.
                b'q' | b'p' if dropped_context => {
                    changed = true;
                    continue;
                }
                _ => None,
            };
            match mapped {
                Some(m) if m != *value => {
                    changed = true;
                    out_fields.push((*code, m));
                }
                _ => out_fields.push((*code, value.clone())),
            }
        }
        changed.then(|| {
            let mut out = BytesMut::with_capacity(body.len() + 5);
            write_message(&mut out, tags::ERROR_RESPONSE, |b| {
                for (code, value) in &out_fields {
                    b.put_u8(*code);
                    b.put_slice(value.as_bytes());
                    b.put_u8(0);
                }
                b.put_u8(0);
            });
            out
        })
    }

    /// `"todos_active_part_13"` -> `"todos"`, `"todos_active_user_id_fkey"`
    /// -> `"todos_user_id_fkey"`: every quoted name of the new schema.
    fn rename_quoted(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('"') {
            let Some(len) = rest[start + 1..].find('"') else { break };
            let name = &rest[start + 1..start + 1 + len];
            out.push_str(&rest[..=start]);
            if self.relations.contains_key(name) {
                out.push_str(&self.legacy_table);
            } else if let Some(c) = self.constraints.get(name) {
                out.push_str(&c.name);
            } else {
                out.push_str(name);
            }
            out.push('"');
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }

    /// CONTEXT without the entries of the proxy's own statements and
    /// functions: those naming `switchyard.` functions or the new tables,
    /// and the statements the proxy's functions run. None when nothing is left.
    fn own_context_removed(&self, context: &str) -> Option<String> {
        let runs_ours = |e: &str| {
            let quoted = e.strip_prefix("SQL statement \"").and_then(|q| q.strip_suffix('"'));
            quoted.is_some_and(|q| self.own_function_sources.iter().any(|src| src.contains(q)))
        };
        let ours = |e: &str| {
            e.contains("switchyard.") || self.relations.keys().any(|r| e.contains(r.as_str())) || runs_ours(e)
        };
        let kept: Vec<String> = context_entries(context).into_iter().filter(|e| !ours(e)).collect();
        (!kept.is_empty()).then(|| kept.join("\n"))
    }

    fn detail(&self, text: &str, relation: Option<&LegacyRelation>, constraint: Option<&LegacyConstraint>) -> String {
        let text = self.rename_quoted(text);
        if let Some(c) = constraint {
            if let Some(mapped) = key_detail(&text, c) {
                return mapped;
            }
        }
        match relation.and_then(|r| r.extra_columns) {
            Some(extra) if extra > 0 => failing_row(&text, extra).unwrap_or(text),
            _ => text,
        }
    }
}

/// The legacy constraint a new one stands for: the same kind over the same
/// columns (and, for a foreign key, the same referenced table). A primary
/// key is legacy's primary key whatever its columns: the new tables add the
/// partition key to it.
fn counterpart<'a>(c: &ConstraintFacts, legacy: &'a [ConstraintFacts]) -> Option<&'a ConstraintFacts> {
    legacy.iter().find(|l| {
        l.kind == c.kind
            && match c.kind {
                'p' => true,
                'f' => l.references == c.references && l.columns == c.columns,
                _ => l.columns == c.columns,
            }
    })
}

/// `Key (id, user_id)=(a, b) already exists.` -> `Key (id)=(a) already exists.`
fn key_detail(text: &str, c: &LegacyConstraint) -> Option<String> {
    if c.new_columns == c.columns {
        return None;
    }
    let new_cols = c.new_columns.join(", ");
    let head = format!("Key ({new_cols})=(");
    let rest = text.strip_prefix(&head)?;
    // Values are split on ", ": only safe when the count comes out right.
    let close = rest.rfind(')')?;
    let values: Vec<&str> = rest[..close].split(", ").collect();
    if values.len() != c.new_columns.len() {
        return None;
    }
    let kept: Option<Vec<&str>> =
        c.columns.iter().map(|col| c.new_columns.iter().position(|n| n == col).map(|i| values[i])).collect();
    Some(format!("Key ({})=({}){}", c.columns.join(", "), kept?.join(", "), &rest[close + 1..]))
}

/// `Failing row contains (…, 0).` without the new relation's `extra` trailing values.
fn failing_row(text: &str, extra: usize) -> Option<String> {
    let head = "Failing row contains (";
    let body = text.strip_prefix(head)?.strip_suffix(").")?;
    let mut end = body.len();
    for _ in 0..extra {
        end = body[..end].rfind(", ")?;
    }
    Some(format!("{head}{}).", &body[..end]))
}

/// The entries of a CONTEXT field, innermost first: one per line, except
/// that `SQL statement "…"` spans the lines of the statement it quotes.
fn context_entries(context: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    let mut open = false;
    for line in context.split('\n') {
        match entries.last_mut() {
            Some(last) if open => {
                last.push('\n');
                last.push_str(line);
            }
            _ => entries.push(line.to_string()),
        }
        let last = entries.last().map(String::as_str).unwrap_or_default();
        open = last.starts_with("SQL statement \"") && !(last.len() > 15 && last.ends_with('"'));
    }
    entries
}

/// An ErrorResponse body's fields in order; None when malformed.
fn parse_fields(body: &[u8]) -> Option<Vec<(u8, String)>> {
    let mut fields = Vec::new();
    let mut rest = body;
    loop {
        let (&code, tail) = rest.split_first()?;
        if code == 0 {
            return Some(fields);
        }
        let end = tail.iter().position(|b| *b == 0)?;
        fields.push((code, String::from_utf8_lossy(&tail[..end]).into_owned()));
        rest = &tail[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(oid: u32, name: &str, cols: &[&str], constraints: Vec<ConstraintFacts>) -> RelationFacts {
        RelationFacts {
            oid,
            schema: "public".into(),
            name: name.into(),
            columns: cols.iter().enumerate().map(|(i, c)| (i as i16 + 1, c.to_string())).collect(),
            types: cols.iter().map(|_| (25, -1)).collect(),
            constraints,
        }
    }

    fn con(name: &str, kind: char, cols: &[&str], references: u32) -> ConstraintFacts {
        ConstraintFacts { name: name.into(), kind, columns: cols.iter().map(|c| c.to_string()).collect(), references }
    }

    fn names() -> LegacyNames {
        let legacy = rel(
            100,
            "todos",
            &["id", "user_id", "title"],
            vec![con("todos_pkey", 'p', &["id"], 0), con("todos_user_id_fkey", 'f', &["user_id"], 7)],
        );
        let part = rel(
            200,
            "todos_active_part_03",
            &["id", "user_id", "title", "depth"],
            vec![
                con("todos_active_part_03_pkey", 'p', &["id", "user_id"], 0),
                con("todos_active_user_id_fkey", 'f', &["user_id"], 7),
            ],
        );
        LegacyNames::new(&CatalogFacts {
            legacy,
            new: vec![part],
            own_function_sources: vec!["BEGIN\n  INSERT INTO todos (id)\n  SELECT 1;\nEND".into()],
        })
    }

    fn error(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (c, v) in fields {
            b.push(*c);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }

    fn renamed(n: &LegacyNames, fields: &[(u8, &str)]) -> Vec<(u8, String)> {
        let out = n.error_response(&error(fields)).expect("renamed");
        parse_fields(&out[5..]).expect("fields")
    }

    #[test]
    fn a_unique_violation_in_a_partition_names_the_legacy_key() {
        let got = renamed(
            &names(),
            &[
                (b'M', "duplicate key value violates unique constraint \"todos_active_part_03_pkey\""),
                (b'D', "Key (id, user_id)=(a1, u1) already exists."),
                (b't', "todos_active_part_03"),
                (b'n', "todos_active_part_03_pkey"),
            ],
        );
        let want: Vec<(u8, String)> = vec![
            (b'M', "duplicate key value violates unique constraint \"todos_pkey\"".into()),
            (b'D', "Key (id)=(a1) already exists.".into()),
            (b't', "todos".into()),
            (b'n', "todos_pkey".into()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn failing_rows_lose_the_new_columns_and_own_context_goes() {
        let got = renamed(
            &names(),
            &[
                (b'D', "Failing row contains (a1, u1, null, 0)."),
                (b'W', "SQL statement \"INSERT INTO todos (id)\n  SELECT 1\"\nPL/pgSQL function app_fn() line 2"),
                (b't', "todos_active_part_03"),
            ],
        );
        assert_eq!(got[0], (b'D', "Failing row contains (a1, u1, null).".to_string()));
        assert_eq!(got[1], (b'W', "PL/pgSQL function app_fn() line 2".to_string()), "the app's own context stays");
        let got = renamed(&names(), &[(b'M', "x"), (b'W', "SQL statement \"INSERT INTO todos (id)\n  SELECT 1\"")]);
        assert_eq!(got, vec![(b'M', "x".to_string())], "nothing left of the context");
    }

    #[test]
    fn errors_naming_nothing_of_the_new_schema_are_left_alone() {
        let n = names();
        assert!(n.error_response(&error(&[(b'C', "22012"), (b'M', "division by zero")])).is_none());
        assert!(LegacyNames::default().error_response(&error(&[(b't', "todos_active_part_03")])).is_none());
        assert_eq!(n.legacy_origin(200, 3), Some((100, 3)));
        assert_eq!(n.legacy_origin(200, 4), None, "depth is not a legacy column");
        assert_eq!(n.legacy_column("title", 25, -1), Some((100, 3)));
        assert_eq!(n.legacy_column("title", 23, -1), None, "another type: a computed column");
    }
}
