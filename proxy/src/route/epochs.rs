//! The phase a transaction runs under and the epochs still running in this
//! process: an instance acknowledges a phase only once no transaction of an
//! older one is open.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use switchyard_rewriter::Phase;

/// The phase in force and its epoch, as the control plane publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseView {
    pub phase: Phase,
    pub epoch: i64,
}

/// Counts the transactions running under each epoch in this process, so the
/// instance acknowledges a phase only once no transaction runs an older one.
#[derive(Debug, Default)]
pub struct EpochTracker {
    in_use: Mutex<BTreeMap<i64, (Phase, usize)>>,
    /// Notified when the last transaction of an epoch ends, so the
    /// instance acknowledges a newer one at once rather than at its next
    /// heartbeat.
    released: Arc<Notify>,
}

impl EpochTracker {
    pub(crate) fn enter(&self, v: PhaseView) {
        if let Ok(mut m) = self.in_use.lock() {
            m.entry(v.epoch).or_insert((v.phase, 0)).1 += 1;
        }
    }

    pub(crate) fn leave(&self, epoch: i64) {
        if let Ok(mut m) = self.in_use.lock() {
            if let Some(e) = m.get_mut(&epoch) {
                e.1 = e.1.saturating_sub(1);
                if e.1 == 0 {
                    m.remove(&epoch);
                    self.released.notify_one();
                }
            }
        }
    }

    /// Notified when no transaction runs an epoch any more (one
    /// notification is kept while nobody waits).
    pub fn released(&self) -> Arc<Notify> {
        Arc::clone(&self.released)
    }

    /// The oldest phase a transaction still runs under, or `published` when
    /// none is older.
    pub fn oldest(&self, published: PhaseView) -> PhaseView {
        let oldest = self.in_use.lock().ok().and_then(|m| m.iter().next().map(|(e, (p, _))| (*e, *p)));
        match oldest {
            Some((epoch, phase)) if epoch < published.epoch => PhaseView { phase, epoch },
            _ => published,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_running_epoch_is_acknowledged() {
        let t = EpochTracker::default();
        let now = PhaseView { phase: Phase::WriteNew, epoch: 4 };
        assert_eq!(t.oldest(now), now);
        t.enter(PhaseView { phase: Phase::ReadNew, epoch: 3 });
        t.enter(now);
        assert_eq!(t.oldest(now), PhaseView { phase: Phase::ReadNew, epoch: 3 });
        t.leave(3);
        assert_eq!(t.oldest(now), now);
    }

    #[tokio::test]
    async fn the_end_of_an_epochs_last_transaction_is_notified() {
        let t = EpochTracker::default();
        let released = t.released();
        let old = PhaseView { phase: Phase::ReadNew, epoch: 3 };
        t.enter(old);
        t.enter(old);
        t.leave(3);
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(20), released.notified()).await;
        assert!(quiet.is_err(), "a transaction of epoch 3 still runs");
        t.leave(3);
        released.notified().await;
    }
}
