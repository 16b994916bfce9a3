//! The ledger of acknowledged writes, and the check that a database holds
//! exactly what was acknowledged.
//!
//! For every todo the workload created, changed or deleted, the ledger keeps
//! the expected final state of the columns the workload controls: present or
//! absent, and when known the title, the status, whether `completed_at` is
//! set, and the parent. It changes only when the server acknowledged the
//! write (autocommit statement or COMMIT returned OK). A write the server
//! refused leaves the ledger as it was, except that the ids of a refused
//! create are recorded as absent: finding them later is a phantom. A write
//! whose outcome is unknown (the connection failed while it was in flight)
//! marks its ids uncertain; they are left out of the strict check.
//!
//! Every client works on its own users, so all writes to one todo come from
//! one client, one after the other: the ledger's order is the commit order.

//!
//! [`check`] reads a database back and compares it with the ledger.

mod check;

use std::collections::HashMap;

use serde::Serialize;
use uuid::Uuid;

pub(crate) use check::Found;
pub use check::{LedgerCheck, Mismatch, Schema};

/// A todo's status (the legacy CHECK constraint's three values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Todo,
    InProgress,
    Done,
}

impl Status {
    /// The value stored in `todos.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Todo => "todo",
            Status::InProgress => "in_progress",
            Status::Done => "done",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "todo" => Some(Status::Todo),
            "in_progress" => Some(Status::InProgress),
            "done" => Some(Status::Done),
            _ => None,
        }
    }
}

/// What the database must hold for one todo id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Created or changed, and acknowledged: the row must exist.
    Present,
    /// Deleted (directly or by cascade), acknowledged: the row must not exist.
    Deleted,
    /// A create the server refused: the row must not exist.
    Rejected,
    /// A write whose outcome is unknown: not checked.
    Uncertain,
}

/// The expected state of one todo. `None` fields are not controlled by the
/// workload (a todo it found and changed only partly) and not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub expect: Expect,
    pub title: Option<String>,
    pub status: Option<Status>,
    /// Whether `completed_at` is set.
    pub completed: Option<bool>,
    /// The parent, when known (`Some(None)`: a root).
    pub parent: Option<Option<Uuid>>,
}

impl Entry {
    fn unknown(expect: Expect) -> Entry {
        Entry { expect, title: None, status: None, completed: None, parent: None }
    }
}

/// A created todo, as acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub(crate) id: Uuid,
    pub(crate) title: String,
    pub(crate) status: Status,
    pub(crate) parent: Option<Uuid>,
}

/// How many ids the ledger holds, by expectation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LedgerSummary {
    pub present: usize,
    pub deleted: usize,
    pub rejected: usize,
    pub uncertain: usize,
}

/// Every acknowledged write of a run, by todo id.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    entries: HashMap<Uuid, Entry>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// The expected state of one todo, if the ledger knows it.
    pub fn get(&self, id: &Uuid) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = (&Uuid, &Entry)> {
        self.entries.iter()
    }

    /// How many ids the ledger holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the ledger holds no id.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counts by expectation.
    pub fn summary(&self) -> LedgerSummary {
        let mut s = LedgerSummary::default();
        for e in self.entries.values() {
            match e.expect {
                Expect::Present => s.present += 1,
                Expect::Deleted => s.deleted += 1,
                Expect::Rejected => s.rejected += 1,
                Expect::Uncertain => s.uncertain += 1,
            }
        }
        s
    }

    /// Adds another ledger's entries (another client's: their ids are disjoint).
    pub fn merge(&mut self, other: Ledger) {
        self.entries.extend(other.entries);
    }

    pub(crate) fn created(&mut self, todos: &[Created]) {
        for t in todos {
            self.entries.insert(
                t.id,
                Entry {
                    expect: Expect::Present,
                    title: Some(t.title.clone()),
                    status: Some(t.status),
                    completed: Some(t.status == Status::Done),
                    parent: Some(t.parent),
                },
            );
        }
    }

    /// An acknowledged update of `id`; `None` arguments were not written.
    pub(crate) fn updated(&mut self, id: Uuid, title: Option<&str>, status: Option<Status>, completed: Option<bool>) {
        let e = self.entries.entry(id).or_insert_with(|| Entry::unknown(Expect::Present));
        if e.expect == Expect::Uncertain {
            return;
        }
        e.expect = Expect::Present;
        if let Some(t) = title {
            e.title = Some(t.to_owned());
        }
        if status.is_some() {
            e.status = status;
        }
        if completed.is_some() {
            e.completed = completed;
        }
    }

    pub(crate) fn deleted(&mut self, ids: &[Uuid]) {
        for id in ids {
            let e = self.entries.entry(*id).or_insert_with(|| Entry::unknown(Expect::Deleted));
            if e.expect != Expect::Uncertain {
                *e = Entry::unknown(Expect::Deleted);
            }
        }
    }

    /// Creates the server refused: these ids must not appear.
    pub(crate) fn rejected(&mut self, ids: &[Uuid]) {
        for id in ids {
            self.entries.entry(*id).or_insert_with(|| Entry::unknown(Expect::Rejected));
        }
    }

    pub(crate) fn uncertain(&mut self, ids: &[Uuid]) {
        for id in ids {
            self.entries.insert(*id, Entry::unknown(Expect::Uncertain));
        }
    }

    /// Records what a todo is known to hold (read before any write to it).
    pub(crate) fn known(&mut self, id: Uuid, entry: Entry) {
        self.entries.insert(id, entry);
    }
}
