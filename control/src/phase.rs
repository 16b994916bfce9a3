//! The migration phases and the rules for moving between them (docs/invariants.md, "Phases" and "Guards").
//! Pure logic: the facts a guard needs are gathered elsewhere (`state.rs`).
//!
//! | phase      | reads  | writes | mirrored to |
//! |------------|--------|--------|-------------|
//! | legacy     | legacy | legacy | —           |
//! | dual_write | legacy | legacy | new         |
//! | read_new   | new    | legacy | new         |
//! | write_new  | new    | new    | legacy      |
//! | new_only   | new    | new    | —           |
//!
//! Moves go one step at a time. Two adjacent phases are always safe to run
//! side by side (instances flip at slightly different moments): between
//! dual_write, read_new and write_new every write reaches both schemas.

use std::time::Duration;

/// One migration phase: the rewriter's type, so the proxy and the control
/// plane cannot disagree on what a phase is called.
pub use switchyard_rewriter::Phase;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownPhase(pub String);

/// Parses a phase name, with the control plane's error type.
pub fn parse_phase(s: &str) -> Result<Phase, UnknownPhase> {
    s.parse().map_err(UnknownPhase)
}

/// The phase's position in the order legacy .. new_only.
fn index(p: Phase) -> usize {
    Phase::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

/// A live proxy instance as the guards see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceAck {
    pub instance_id: String,
    pub phase: Option<Phase>,
    pub epoch: Option<i64>,
}

/// Everything the guards look at, read in the transaction that changes phase.
#[derive(Debug, Clone)]
pub struct GuardFacts {
    pub epoch: i64,
    pub backfill_complete: bool,
    /// Age of the newest clean verify run that started after the backfill
    /// completed; `None` when there is none.
    pub clean_verify_age: Option<Duration>,
    pub max_verify_age: Duration,
    /// Instances whose heartbeat is recent.
    pub live_instances: Vec<InstanceAck>,
    /// `--confirm` given.
    pub confirmed: bool,
}

/// Why a move is refused. `forceable` guards can be skipped with `--force`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("already in {0}")]
    AlreadyThere(Phase),
    #[error("{from} -> {to} skips a phase; move one step at a time ({path})")]
    NotAdjacent { from: Phase, to: Phase, path: String },
    #[error("leaving new_only is refused: the legacy table is no longer kept up to date, so nothing can be served from it again")]
    LeavingNewOnly,
    #[error("read_new needs a completed backfill; run `switchyard backfill`")]
    BackfillIncomplete,
    #[error("read_new needs a clean verify run after the backfill; run `switchyard verify`")]
    NoCleanVerify,
    #[error(
        "the last clean verify is {age_secs} s old, older than the allowed {max_secs} s; run `switchyard verify` again"
    )]
    VerifyTooOld { age_secs: u64, max_secs: u64 },
    #[error("new_only drops the legacy copy for good: repeat with --confirm")]
    NotConfirmed,
    #[error("new_only needs every live proxy instance on write_new at epoch {epoch}; not yet: {waiting}")]
    InstancesNotOnWriteNew { epoch: i64, waiting: String },
}

impl Refusal {
    /// Whether `--force` may override it. Moving two steps at once or out of
    /// new_only would lose writes, so no flag allows those; and new_only's
    /// explicit confirmation is exactly that, so `--force` does not stand in
    /// for `--confirm`.
    pub fn forceable(&self) -> bool {
        !matches!(
            self,
            Refusal::AlreadyThere(_) | Refusal::NotAdjacent { .. } | Refusal::LeavingNewOnly | Refusal::NotConfirmed
        )
    }
}

/// Checks a move from `from` to `to`. Returns every guard that refuses it
/// (empty: allowed).
pub fn check_move(from: Phase, to: Phase, facts: &GuardFacts) -> Vec<Refusal> {
    if from == to {
        return vec![Refusal::AlreadyThere(to)];
    }
    if from == Phase::NewOnly {
        return vec![Refusal::LeavingNewOnly];
    }
    if index(from).abs_diff(index(to)) != 1 {
        let (lo, hi) = (index(from).min(index(to)), index(from).max(index(to)));
        let mut steps: Vec<&str> = Phase::ALL[lo..=hi].iter().map(|p| p.as_str()).collect();
        if index(from) > index(to) {
            steps.reverse();
        }
        return vec![Refusal::NotAdjacent { from, to, path: steps.join(" -> ") }];
    }
    let mut refusals = Vec::new();
    match (from, to) {
        (Phase::DualWrite, Phase::ReadNew) => {
            if !facts.backfill_complete {
                refusals.push(Refusal::BackfillIncomplete);
            }
            match facts.clean_verify_age {
                None => refusals.push(Refusal::NoCleanVerify),
                Some(age) if age > facts.max_verify_age => refusals
                    .push(Refusal::VerifyTooOld { age_secs: age.as_secs(), max_secs: facts.max_verify_age.as_secs() }),
                Some(_) => {}
            }
        }
        (Phase::WriteNew, Phase::NewOnly) => {
            if !facts.confirmed {
                refusals.push(Refusal::NotConfirmed);
            }
            let waiting: Vec<String> = facts
                .live_instances
                .iter()
                .filter(|i| i.phase != Some(Phase::WriteNew) || i.epoch != Some(facts.epoch))
                .map(|i| {
                    format!(
                        "{} (on {} at epoch {})",
                        i.instance_id,
                        i.phase.map(|p| p.as_str()).unwrap_or("nothing"),
                        i.epoch.map(|e| e.to_string()).unwrap_or_else(|| "-".into())
                    )
                })
                .collect();
            if !waiting.is_empty() {
                refusals.push(Refusal::InstancesNotOnWriteNew { epoch: facts.epoch, waiting: waiting.join(", ") });
            }
        }
        _ => {}
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> GuardFacts {
        GuardFacts {
            epoch: 3,
            backfill_complete: true,
            clean_verify_age: Some(Duration::from_secs(10)),
            max_verify_age: Duration::from_secs(3600),
            live_instances: vec![],
            confirmed: false,
        }
    }

    #[test]
    fn phases_round_trip_through_their_names() {
        for p in Phase::ALL {
            assert_eq!(parse_phase(p.as_str()), Ok(p));
        }
        assert!(parse_phase("read-new").is_err());
    }

    #[test]
    fn one_step_forward_or_back_is_allowed_without_guards() {
        let f = facts();
        assert!(check_move(Phase::Legacy, Phase::DualWrite, &f).is_empty());
        assert!(check_move(Phase::DualWrite, Phase::Legacy, &f).is_empty());
        assert!(check_move(Phase::ReadNew, Phase::WriteNew, &f).is_empty());
        assert!(check_move(Phase::WriteNew, Phase::ReadNew, &f).is_empty());
    }

    #[test]
    fn skipping_a_phase_is_refused_and_not_forceable() {
        let r = check_move(Phase::Legacy, Phase::ReadNew, &facts());
        assert_eq!(r.len(), 1);
        assert!(r[0].to_string().contains("legacy -> dual_write -> read_new"), "{}", r[0]);
        assert!(!r[0].forceable());
    }

    #[test]
    fn leaving_new_only_is_always_refused() {
        let r = check_move(Phase::NewOnly, Phase::WriteNew, &facts());
        assert_eq!(r, vec![Refusal::LeavingNewOnly]);
        assert!(!r[0].forceable());
    }

    #[test]
    fn read_new_needs_backfill_and_a_fresh_clean_verify() {
        let mut f = facts();
        f.backfill_complete = false;
        f.clean_verify_age = None;
        assert_eq!(
            check_move(Phase::DualWrite, Phase::ReadNew, &f),
            vec![Refusal::BackfillIncomplete, Refusal::NoCleanVerify]
        );
        f.backfill_complete = true;
        f.clean_verify_age = Some(Duration::from_secs(7200));
        let r = check_move(Phase::DualWrite, Phase::ReadNew, &f);
        assert!(matches!(r[..], [Refusal::VerifyTooOld { age_secs: 7200, max_secs: 3600 }]));
        assert!(r[0].forceable());
    }

    #[test]
    fn new_only_needs_confirmation_and_every_instance_on_write_new() {
        let mut f = facts();
        f.live_instances = vec![
            InstanceAck { instance_id: "a".into(), phase: Some(Phase::WriteNew), epoch: Some(3) },
            InstanceAck { instance_id: "b".into(), phase: Some(Phase::ReadNew), epoch: Some(2) },
        ];
        let r = check_move(Phase::WriteNew, Phase::NewOnly, &f);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], Refusal::NotConfirmed);
        assert!(!r[0].forceable(), "--force must not stand in for --confirm");
        assert!(r[1].forceable());
        assert!(r[1].to_string().contains("b (on read_new at epoch 2)"), "{}", r[1]);
        f.confirmed = true;
        f.live_instances.truncate(1);
        assert!(check_move(Phase::WriteNew, Phase::NewOnly, &f).is_empty());
    }
}
