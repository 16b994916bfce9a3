//! What a workload run does: where it connects, how many clients, how long,
//! and the mix of operations.

use std::time::Duration;

use crate::op::Op;

/// Relative weights of the operations each client picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub create: u32,
    pub list: u32,
    pub set_status: u32,
    pub complete: u32,
    pub edit: u32,
    pub delete: u32,
    pub walk: u32,
}

impl Default for Mix {
    /// Read-heavy like a TodoList app: listing and walking are about 45 %.
    fn default() -> Mix {
        Mix { create: 15, list: 35, set_status: 12, complete: 10, edit: 12, delete: 6, walk: 10 }
    }
}

impl Mix {
    /// The weight of one operation.
    pub fn weight(&self, op: Op) -> u32 {
        match op {
            Op::Create => self.create,
            Op::List => self.list,
            Op::SetStatus => self.set_status,
            Op::Complete => self.complete,
            Op::Edit => self.edit,
            Op::Delete => self.delete,
            Op::Walk => self.walk,
        }
    }

    /// Cumulative weights in [`Op::ALL`] order, for picking.
    pub(crate) fn cumulative(&self) -> [u32; Op::COUNT] {
        let mut acc = 0;
        Op::ALL.map(|op| {
            acc += self.weight(op);
            acc
        })
    }
}

/// A workload run.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Where the app connects: PostgreSQL itself or a proxy in front of it.
    pub url: String,
    /// Concurrent client connections, each a task of its own.
    pub clients: usize,
    /// How long to run; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Seed of the operation choices and generated values (ids are always
    /// random, so runs with one seed never collide); `None`: random.
    pub seed: Option<u64>,
    pub mix: Mix,
    /// Share of operations sent with the simple protocol (literals inlined);
    /// the rest use prepared statements.
    pub simple_fraction: f64,
    /// An operation taking longer than this fails; its writes become uncertain.
    pub op_timeout: Duration,
    /// After a stop, how long an in-flight operation may still finish.
    pub stop_grace: Duration,
    /// How many todos each client keeps in its working set.
    pub todos_per_client: usize,
}

impl WorkloadConfig {
    /// Defaults for everything but the URL and the number of clients.
    pub fn new(url: impl Into<String>, clients: usize) -> WorkloadConfig {
        WorkloadConfig {
            url: url.into(),
            clients,
            duration: None,
            seed: None,
            mix: Mix::default(),
            simple_fraction: 0.35,
            op_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(5),
            todos_per_client: 2_000,
        }
    }

    /// The same, running for `duration`.
    pub fn with_duration(mut self, duration: Duration) -> WorkloadConfig {
        self.duration = Some(duration);
        self
    }

    /// The same, with a fixed seed.
    pub fn with_seed(mut self, seed: u64) -> WorkloadConfig {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.clients == 0 {
            return Err("at least one client is needed".into());
        }
        if Op::ALL.iter().all(|op| self.mix.weight(*op) == 0) {
            return Err("the operation mix has no operation with a weight".into());
        }
        if !(0.0..=1.0).contains(&self.simple_fraction) {
            return Err(format!("simple_fraction {} is not between 0 and 1", self.simple_fraction));
        }
        if self.todos_per_client == 0 {
            return Err("todos_per_client must be at least 1".into());
        }
        Ok(())
    }
}
