//! A soak client's exact knowledge of its users' todos: the ledger (every
//! todo of its users, read before the first write, then every acknowledged
//! write), which user owns which todo, and a random pick of present ones.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::Rng;
use uuid::Uuid;

use crate::ledger::{Created, Entry, Ledger, Status};

/// A user of the client, with the user's projects.
#[derive(Debug, Clone)]
pub(crate) struct SoakUser {
    pub(crate) id: Uuid,
    pub(crate) projects: Vec<Uuid>,
}

/// What an acknowledged write changes.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Created(Vec<Created>, Uuid),
    Updated { id: Uuid, title: Option<String>, status: Option<Status>, completed: Option<bool> },
    Deleted(Vec<Uuid>),
    UserDeleted { user: Uuid, todos: Vec<Uuid> },
}

impl Effect {
    /// The todos whose rows the write changes.
    pub(crate) fn ids(&self) -> Vec<Uuid> {
        match self {
            Effect::Created(todos, _) => todos.iter().map(|t| t.id).collect(),
            Effect::Updated { id, .. } => vec![*id],
            Effect::Deleted(ids) | Effect::UserDeleted { todos: ids, .. } => ids.clone(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Model {
    pub(crate) ledger: Ledger,
    owner: HashMap<Uuid, Uuid>,
    by_user: HashMap<Uuid, HashSet<Uuid>>,
    present: Vec<Uuid>,
    slot: HashMap<Uuid, usize>,
    /// Todos this client created: in the new schema from their first commit
    /// on, whether or not the backfill has run.
    pub(crate) born: HashSet<Uuid>,
}

impl Model {
    /// A todo as read before the run.
    pub(crate) fn load(&mut self, id: Uuid, user: Uuid, entry: Entry) {
        self.ledger.known(id, entry);
        self.add(id, user);
    }

    fn add(&mut self, id: Uuid, user: Uuid) {
        self.owner.insert(id, user);
        self.by_user.entry(user).or_default().insert(id);
        if !self.slot.contains_key(&id) {
            self.slot.insert(id, self.present.len());
            self.present.push(id);
        }
    }

    fn remove(&mut self, id: &Uuid) {
        if let Some(user) = self.owner.remove(id) {
            if let Some(set) = self.by_user.get_mut(&user) {
                set.remove(id);
            }
        }
        if let Some(i) = self.slot.remove(id) {
            self.present.swap_remove(i);
            if let Some(moved) = self.present.get(i) {
                self.slot.insert(*moved, i);
            }
        }
    }

    pub(crate) fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Created(todos, user) => {
                for t in todos {
                    self.born.insert(t.id);
                    self.add(t.id, *user);
                }
                self.ledger.created(todos);
            }
            Effect::Updated { id, title, status, completed } => {
                self.ledger.updated(*id, title.as_deref(), *status, *completed);
            }
            Effect::Deleted(ids) | Effect::UserDeleted { todos: ids, .. } => {
                for id in ids {
                    self.remove(id);
                }
                self.ledger.deleted(ids);
            }
        }
    }

    /// Ids whose outcome stays unknown: left out of every later check.
    pub(crate) fn uncertain(&mut self, ids: &[Uuid]) {
        for id in ids {
            self.remove(id);
        }
        self.ledger.uncertain(ids);
    }

    /// A present todo and its user.
    pub(crate) fn pick(&self, rng: &mut StdRng) -> Option<(Uuid, Uuid)> {
        if self.present.is_empty() {
            return None;
        }
        let id = self.present[rng.random_range(0..self.present.len())];
        self.owner.get(&id).map(|u| (id, *u))
    }

    /// A present todo whose acknowledged status is done (the archival's
    /// prey) when a few tries find one, else any.
    pub(crate) fn pick_done(&self, rng: &mut StdRng) -> Option<(Uuid, Uuid)> {
        for _ in 0..8 {
            let p = self.pick(rng)?;
            if self.entry(&p.0).and_then(|e| e.status) == Some(Status::Done) {
                return Some(p);
            }
        }
        self.pick(rng)
    }

    pub(crate) fn entry(&self, id: &Uuid) -> Option<&Entry> {
        self.ledger.get(id)
    }

    /// The present todos of `user`.
    pub(crate) fn todos_of(&self, user: &Uuid) -> HashSet<Uuid> {
        self.by_user.get(user).cloned().unwrap_or_default()
    }

    /// `root` and every present todo below it (the legacy foreign key's
    /// cascade deletes them together).
    pub(crate) fn subtree(&self, root: Uuid, user: &Uuid) -> Vec<Uuid> {
        let mine = self.todos_of(user);
        let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for id in &mine {
            if let Some(Some(parent)) = self.entry(id).and_then(|e| e.parent) {
                children.entry(parent).or_default().push(*id);
            }
        }
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            if let Some(c) = children.get(&out[i]) {
                out.extend(c);
            }
            i += 1;
        }
        out
    }
}
