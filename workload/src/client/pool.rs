//! The todos a client knows of: its working set, picked from at random.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::Rng;
use uuid::Uuid;

use crate::ledger::Status;

/// A todo in the working set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Known {
    pub(super) id: Uuid,
    pub(super) user: Uuid,
    pub(super) status: Status,
}

/// The todos a client knows of, with O(1) add, remove and random pick.
pub(super) struct Pool {
    items: Vec<Known>,
    index: HashMap<Uuid, usize>,
    cap: usize,
}

impl Pool {
    pub(super) fn new(cap: usize) -> Pool {
        Pool { items: Vec::new(), index: HashMap::new(), cap }
    }

    pub(super) fn add(&mut self, k: Known) {
        if let Some(&i) = self.index.get(&k.id) {
            self.items[i].status = k.status;
        } else if self.items.len() < self.cap {
            self.index.insert(k.id, self.items.len());
            self.items.push(k);
        }
    }

    pub(super) fn remove(&mut self, id: &Uuid) {
        if let Some(i) = self.index.remove(id) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.index.insert(moved.id, i);
            }
        }
    }

    pub(super) fn set_status(&mut self, id: &Uuid, status: Status) {
        if let Some(&i) = self.index.get(id) {
            self.items[i].status = status;
        }
    }

    pub(super) fn pick(&self, rng: &mut StdRng) -> Option<Known> {
        if self.items.is_empty() {
            None
        } else {
            Some(self.items[rng.random_range(0..self.items.len())])
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
