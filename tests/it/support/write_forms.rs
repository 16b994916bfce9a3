//! The write forms the suite checks, each once: the rewriter's tests run
//! them on a migrated database as the rewriter plans them
//! (`rewriter::twin`), the wire tests send them through `switchyard serve`
//! by every client and protocol (`wire_phases::forms`); both compare what
//! each form does with what it does on a legacy twin.
//!
//! A form is its SQL, its parameters (bound in the extended protocol,
//! written in as literals for the simple protocol and psql, see
//! [`WriteForm::literal_sql`]) and how a phase may make it deviate from the
//! twin. The forms come in [`sequences`]: each sequence starts from the
//! fixture's seed (the proxied side backfilled, t5 and t6 archived) and runs
//! in order, later forms relying on what earlier ones did.

use switchyard_rewriter::Phase;

use super::fixture::V;

mod upserts;
mod writes;

/// How the answer in a phase may deviate from the twin's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deviation {
    /// Refused with SQLSTATE 0A000; nothing runs on either side.
    Refused,
    /// Not run in that phase (legacy's constraints are gone in new_only).
    Skip,
}

/// One write form.
pub struct WriteForm {
    /// What the form is, as a test failure names it.
    pub name: &'static str,
    pub sql: &'static str,
    pub params: Vec<V>,
    /// The phases where it does not do what it does on the twin.
    pub deviations: &'static [(Phase, Deviation)],
}

/// Forms run in order from a freshly seeded pair.
pub struct Sequence {
    pub name: &'static str,
    pub forms: Vec<WriteForm>,
}

/// Inserts, updates and deletes in the forms applications and ORMs send.
pub fn writes() -> Sequence {
    Sequence { name: "writes", forms: writes::forms() }
}

/// Upserts by id of archived, active and new todos.
pub fn upserts_by_id() -> Sequence {
    Sequence { name: "upserts by id", forms: upserts::forms() }
}

/// Every sequence of the corpus.
pub fn sequences() -> Vec<Sequence> {
    vec![writes(), upserts_by_id()]
}

/// A form that does on every phase what it does on the twin.
fn form(name: &'static str, sql: &'static str, params: Vec<V>) -> WriteForm {
    WriteForm { name, sql, params, deviations: &[] }
}

impl WriteForm {
    /// How `phase` makes this form deviate from the twin, if it does.
    pub fn deviation(&self, phase: Phase) -> Option<Deviation> {
        self.deviations.iter().find(|(p, _)| *p == phase).map(|(_, d)| *d)
    }

    /// The SQL with its parameters written in as literals (simple protocol, psql).
    pub fn literal_sql(&self) -> String {
        let mut sql = self.sql.to_string();
        for (i, v) in self.params.iter().enumerate().rev() {
            let lit = match v {
                V::Id(id) => format!("'{id}'::uuid"),
                V::Text(s) => format!("'{}'", s.replace('\'', "''")),
                V::Int(n) => n.to_string(),
                V::Texts(v) => {
                    let items: Vec<String> = v.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect();
                    format!("ARRAY[{}]::text[]", items.join(", "))
                }
            };
            sql = sql.replace(&format!("${}", i + 1), &lit);
        }
        sql
    }
}

#[test]
fn every_form_is_named_once_and_literal_sql_leaves_no_placeholder() {
    let mut names = std::collections::HashSet::new();
    for f in sequences().into_iter().flat_map(|s| s.forms) {
        assert!(names.insert(f.name), "two forms are named {:?}", f.name);
        let literal = f.literal_sql();
        assert!(!literal.contains('$'), "{}: {literal}", f.name);
    }
}
