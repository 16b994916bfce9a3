//! Realistic values for new and edited todos: titles (some with quotes,
//! backslashes, comment markers, `$n` and non-ASCII text, so literals and
//! the proxy's lexer are exercised), descriptions, tags, metadata, due dates.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use switchyard_control::legacy::words::{SUBTASKS, TAGS, TITLES};
use uuid::Uuid;

use crate::ledger::Status;
use crate::sql::Val;

/// Text that trips naive quoting or statement scanning.
const TRICKY: &[&str] = &[
    "it's Bob's",
    r"C:\temp\new",
    "50% off; -- not a comment",
    "$1 and $2 are not parameters",
    "ünïcødé 🚀 待办",
    "/* not a comment */",
    "\"double\" quotes",
    "semi;colon; DELETE FROM todos",
    "E'not an escape'",
    "todos_archived",
];

/// A todo about to be inserted.
#[derive(Debug, Clone)]
pub(crate) struct NewTodo {
    pub(crate) id: Uuid,
    pub(crate) user: Uuid,
    pub(crate) project: Option<Uuid>,
    pub(crate) parent: Option<Uuid>,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) status: Status,
    pub(crate) priority: i32,
    pub(crate) due: Option<DateTime<Utc>>,
    pub(crate) ai: bool,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Value,
}

impl NewTodo {
    /// Parameters of `Stmt::Insert` (with the id) or `Stmt::InsertReturning`.
    pub(crate) fn params(&self, with_id: bool) -> Vec<Val<'_>> {
        let mut p = Vec::with_capacity(12);
        if with_id {
            p.push(Val::Uuid(self.id));
        }
        p.extend([
            Val::Uuid(self.user),
            Val::OptUuid(self.project),
            Val::OptUuid(self.parent),
            Val::Text(&self.title),
            Val::OptText(self.description.as_deref()),
            Val::Text(self.status.as_str()),
            Val::Int(self.priority),
            Val::OptTs(self.due),
            Val::Bool(self.ai),
            Val::Tags(&self.tags),
            Val::Json(&self.metadata),
        ]);
        p
    }
}

pub(crate) fn title(rng: &mut StdRng, n: u64) -> String {
    let base = TITLES[rng.random_range(0..TITLES.len())];
    if rng.random_bool(0.15) {
        format!("{base} {} #{n}", TRICKY[rng.random_range(0..TRICKY.len())])
    } else {
        format!("{base} #{n}")
    }
}

pub(crate) fn root(rng: &mut StdRng, id: Uuid, user: Uuid, project: Option<Uuid>, n: u64) -> NewTodo {
    let title = title(rng, n);
    NewTodo {
        id,
        user,
        project,
        parent: None,
        description: rng.random_bool(0.6).then(|| description(rng, &title)),
        title,
        status: if rng.random_bool(0.8) { Status::Todo } else { Status::InProgress },
        priority: rng.random_range(0..=3),
        due: rng.random_bool(0.5).then(|| Utc::now() + Duration::hours(rng.random_range(-48..24 * 30))),
        ai: false,
        tags: tags(rng),
        metadata: if rng.random_bool(0.5) { json!({"source": "web", "client": "workload"}) } else { Value::Null },
    }
}

pub(crate) fn subtask(rng: &mut StdRng, id: Uuid, parent: &NewTodo, step: usize) -> NewTodo {
    let title: String = format!("{}: {}", SUBTASKS[step % SUBTASKS.len()], parent.title).chars().take(500).collect();
    NewTodo {
        id,
        user: parent.user,
        project: parent.project,
        parent: Some(parent.id),
        description: Some(format!("Suggested by the assistant for \"{}\"", parent.title)),
        title,
        status: Status::Todo,
        priority: parent.priority,
        due: parent.due,
        ai: true,
        tags: vec!["ai".to_string()],
        metadata: json!({"source": "ai", "model": "gpt-4o-mini", "step": step, "prompt_tokens": rng.random_range(50..900)}),
    }
}

pub(crate) fn description(rng: &mut StdRng, title: &str) -> String {
    match rng.random_range(0..3) {
        0 => format!("Notes for '{title}'"),
        1 => format!("Remember: {}", TRICKY[rng.random_range(0..TRICKY.len())]),
        _ => "Details to follow.\nSecond line\twith a tab.".to_string(),
    }
}

pub(crate) fn tags(rng: &mut StdRng) -> Vec<String> {
    let n = rng.random_range(0..=3);
    (0..n).map(|_| TAGS[rng.random_range(0..TAGS.len())].to_string()).collect()
}

pub(crate) fn edit_metadata(rng: &mut StdRng, n: u64) -> Value {
    json!({"edited": n, "labels": tags(rng), "note": TRICKY[rng.random_range(0..TRICKY.len())]})
}
