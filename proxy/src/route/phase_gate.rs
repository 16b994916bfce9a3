//! A session's access to the migration phase, which may not be known: not
//! read yet after a start, or no longer trusted while the proxy cannot reach
//! its control database. A statement that touches the migrated table must
//! not run under a guessed phase (legacy would skip the mirror), so it waits
//! a bounded time for the phase and is then refused with SQLSTATE 57P03
//! (`cannot_connect_now`, what PostgreSQL itself says while it starts up:
//! a transient condition clients retry). The connection stays usable, and
//! statements that do not touch the table keep flowing.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::sync::watch;

use crate::route::PhaseView;

/// The SQLSTATE of a statement refused for want of a phase.
pub const PHASE_UNKNOWN_SQLSTATE: &str = "57P03";

/// What the client is told when the wait runs out.
pub const PHASE_UNKNOWN_MESSAGE: &str =
    "the migration phase is not known yet (the proxy cannot read its control database); retry the transaction";

/// The phase channel (`None`: not known) and one session's wait on it.
pub struct PhaseGate {
    phase: watch::Receiver<Option<PhaseView>>,
    bound: Duration,
    waiting: Waiting,
}

enum Waiting {
    No,
    Running(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// The phase arrived or the bound ran out; the held message is seen again.
    Over,
}

impl PhaseGate {
    pub fn new(phase: watch::Receiver<Option<PhaseView>>, bound: Duration) -> PhaseGate {
        PhaseGate { phase, bound, waiting: Waiting::No }
    }

    /// The phase published now, if known.
    pub fn current(&mut self) -> Option<PhaseView> {
        let v = *self.phase.borrow();
        if v.is_some() {
            self.waiting = Waiting::No;
        }
        v
    }

    /// For a statement that needs the phase while it is not known: true to
    /// wait (a wait starts, or is still running), false once a wait has run
    /// out without it (refuse the statement).
    pub fn should_wait(&mut self) -> bool {
        match self.waiting {
            Waiting::No => {
                let mut rx = self.phase.clone();
                let bound = self.bound;
                self.waiting = Waiting::Running(Box::pin(async move {
                    let _ = tokio::time::timeout(bound, rx.wait_for(Option::is_some)).await;
                }));
                true
            }
            Waiting::Running(_) => true,
            Waiting::Over => {
                self.waiting = Waiting::No;
                false
            }
        }
    }

    /// Ready once the phase is known or the wait has run out.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Waiting::Running(wait) = &mut self.waiting {
            ready!(wait.as_mut().poll(cx));
            self.waiting = Waiting::Over;
        }
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_rewriter::Phase;

    async fn wait(gate: &mut PhaseGate) {
        std::future::poll_fn(|cx| gate.poll_ready(cx)).await
    }

    #[tokio::test]
    async fn without_a_phase_a_statement_waits_up_to_the_bound_then_is_refused() {
        let (_tx, rx) = watch::channel(None);
        let mut gate = PhaseGate::new(rx, Duration::from_millis(50));
        assert_eq!(gate.current(), None);
        assert!(gate.should_wait(), "the first time, wait");
        wait(&mut gate).await;
        assert_eq!(gate.current(), None);
        assert!(!gate.should_wait(), "after the bound, refuse");
        assert!(gate.should_wait(), "the next statement waits again");
    }

    #[tokio::test]
    async fn a_phase_read_during_the_wait_ends_it() {
        let (tx, rx) = watch::channel(None);
        let mut gate = PhaseGate::new(rx, Duration::from_secs(600));
        assert!(gate.should_wait());
        let v = PhaseView { phase: Phase::DualWrite, epoch: 2 };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send_replace(Some(v));
            tx.closed().await;
        });
        wait(&mut gate).await;
        assert_eq!(gate.current(), Some(v), "the phase, not the bound, ended the wait");
    }
}
