//! The sample decision, shared by every session: a rate per phase
//! (configured, overridden at run time by `switchyard.shadow_settings`) and
//! a bounded queue that jobs are offered to without waiting.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use switchyard_rewriter::{Action, CommandTag, MigrationSpec, Phase, Plan};
use tokio::sync::mpsc;

use super::ShadowJob;
use crate::metrics::{ShadowOutcome, SkipReason};
use crate::Metrics;

/// A phase's slot in the per-phase rates ([`Phase::ALL`] order).
pub(super) fn phase_index(p: Phase) -> usize {
    Phase::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

/// Shadow-read settings.
#[derive(Debug, Clone)]
pub struct ShadowConfig {
    /// Sample rate (0..=1) per phase, in [`Phase::ALL`] order.
    pub rates: [f64; 5],
    /// Jobs waiting at most; beyond, jobs are dropped and counted.
    pub queue: usize,
    /// Worker tasks, each with its own side connection.
    pub workers: usize,
    /// Where the side connections go (the control-plane database).
    pub database_url: String,
    /// How often `switchyard.shadow_settings` is re-read.
    pub settings_poll: Duration,
    /// Recorded with mismatch samples.
    pub instance_id: Option<String>,
}

impl ShadowConfig {
    /// Defaults: 1% in dual_write, read_new and write_new; none in legacy
    /// (nothing to compare with) and new_only (the legacy table is no longer
    /// written).
    pub fn new(database_url: impl Into<String>) -> ShadowConfig {
        ShadowConfig {
            rates: [0.0, 0.01, 0.01, 0.01, 0.0],
            queue: 1024,
            workers: 2,
            database_url: database_url.into(),
            settings_poll: Duration::from_secs(5),
            instance_id: None,
        }
    }

    /// Applies `PHASE=RATE` (as the `--shadow-sample-rate` flag takes it).
    pub fn set_rate(&mut self, spec: &str) -> Result<(), String> {
        let (phase, rate) = parse_rate(spec)?;
        self.rates[phase_index(phase)] = rate;
        Ok(())
    }
}

/// Parses `PHASE=RATE`, RATE in 0..=1.
pub fn parse_rate(spec: &str) -> Result<(Phase, f64), String> {
    let (p, r) = spec.split_once('=').ok_or_else(|| format!("expected PHASE=RATE, got {spec:?}"))?;
    let phase: Phase = p.trim().parse()?;
    let rate: f64 = r.trim().parse().map_err(|_| format!("not a number: {r:?}"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("a sample rate is between 0 and 1, got {rate}"));
    }
    Ok((phase, rate))
}

/// Whether a plan may be a read of the table worth a sample: it has a
/// shadow statement, or it was planned past the fast path without one (the
/// worker then finds out whether it is a read it must count as skipped).
pub fn wants(plan: &Plan) -> bool {
    plan.shadow.is_some()
        || (plan.reason.is_some() && plan.action != Action::Refuse && plan.result.command_tag == CommandTag::AsReported)
}

/// Shared by every session.
#[derive(Debug)]
pub struct ShadowSampler {
    /// Rate per phase in force (f64 bits).
    pub(super) rates: [AtomicU64; 5],
    pub(super) configured: [f64; 5],
    pub(super) tx: mpsc::Sender<ShadowJob>,
    pub(super) metrics: Arc<Metrics>,
    /// Whether the backfill has completed (polled with the settings). Until
    /// it has, the new tables lack rows legacy has, so a comparison in
    /// dual_write would report a difference that is only the copy not being
    /// done yet: such reads are counted as skipped instead.
    pub(super) backfill_complete: AtomicBool,
}

impl ShadowSampler {
    /// The sample rate in force for `phase`.
    pub fn rate(&self, phase: Phase) -> f64 {
        f64::from_bits(self.rates[phase_index(phase)].load(Relaxed))
    }

    /// One sample decision.
    pub fn sample(&self, phase: Phase) -> bool {
        let r = self.rate(phase);
        r > 0.0 && (r >= 1.0 || rand::random::<f64>() < r)
    }

    /// Queues a job, or drops and counts it when the queue is full. Never waits.
    pub fn offer(&self, job: ShadowJob) {
        if job.phase == Phase::DualWrite && !self.backfill_complete.load(Relaxed) {
            self.metrics.shadow_skipped(SkipReason::BackfillIncomplete);
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => self.metrics.shadow_queued(1),
            Err(_) => self.metrics.shadow_outcome(ShadowOutcome::Dropped),
        }
    }

    pub(super) fn apply_settings(&self, rows: &[(String, f64)]) {
        let mut rates = self.configured;
        for (p, r) in rows {
            if let Ok(phase) = p.parse::<Phase>() {
                rates[phase_index(phase)] = r.clamp(0.0, 1.0);
            }
        }
        for (slot, r) in self.rates.iter().zip(rates) {
            slot.store(r.to_bits(), Relaxed);
        }
    }
}

/// Why a read of the table that has no shadow statement was not compared.
pub(super) fn skip_reason(sql: &str, spec: &MigrationSpec) -> Option<SkipReason> {
    let a = switchyard_rewriter::classify::analyze(sql, spec).ok().flatten()?;
    if a.reads.is_empty() || !a.sites.is_empty() {
        return None;
    }
    Some(if a.locks_table {
        SkipReason::LockingRead
    } else if a.unordered_limit {
        SkipReason::LimitWithoutTotalOrder
    } else if a.volatile {
        SkipReason::VolatileFunction
    } else {
        SkipReason::NotComparable
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("read_new=0.5"), Ok((Phase::ReadNew, 0.5)));
        assert!(parse_rate("read_new=2").is_err());
        assert!(parse_rate("nope=0.1").is_err());
        let mut c = ShadowConfig::new("postgres://x");
        assert!(c.set_rate("legacy=1").is_ok());
        assert_eq!(c.rates[0], 1.0);
    }
}
