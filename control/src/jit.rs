//! PostgreSQL's JIT compiler and the rewritten reads.
//!
//! From read_new on, a read of the legacy table becomes a union of
//! `todos_active` (16 partitions) and `todos_archived` (one partition per
//! month). The planner estimates at least one row per partition it cannot
//! prune, so the plan of a rewritten statement is often costed above
//! `jit_above_cost` where the legacy statement was not, and PostgreSQL then
//! compiles it on every execution: the app's recursive hierarchy walk spent
//! 50-290 ms compiling against about 2 ms running (docs/benchmarks.md, "JIT
//! and the rewritten reads"). The phase change says so before it happens.

use tokio_postgres::GenericClient;

use crate::phase::Phase;
use crate::ControlError;

/// The JIT settings a session of the database sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitSettings {
    pub enabled: bool,
    pub above_cost: f64,
}

impl JitSettings {
    /// Reads the settings as this connection's session sees them (server,
    /// database and role defaults applied).
    pub async fn read(client: &impl GenericClient) -> Result<Self, ControlError> {
        let row = client
            .query_one("SELECT current_setting('jit')::bool, current_setting('jit_above_cost')::float8", &[])
            .await?;
        Ok(JitSettings { enabled: row.get(0), above_cost: row.get(1) })
    }

    /// What to tell the engineer who moves to `to`: nothing unless `to`
    /// serves reads from the new tables while JIT can compile them.
    pub fn advice(&self, to: Phase) -> Option<String> {
        if !to.reads_new() || !self.enabled || self.above_cost < 0.0 {
            return None;
        }
        Some(format!(
            "jit is on (jit_above_cost {}): {to} serves reads from the partitioned tables, whose plans are often \
             costed above that threshold where the legacy statement was not, and PostgreSQL then compiles them \
             on every execution (tens to hundreds of milliseconds each); for an OLTP application consider \
             `ALTER DATABASE <db> SET jit = off` (docs/runbook.md, \"JIT\")",
            self.above_cost
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advises_only_for_phases_that_read_the_new_tables_while_jit_can_run() {
        let on = JitSettings { enabled: true, above_cost: 100_000.0 };
        for phase in Phase::ALL {
            assert_eq!(on.advice(phase).is_some(), phase.reads_new(), "{phase}");
        }
        let off = JitSettings { enabled: false, above_cost: 100_000.0 };
        assert!(Phase::ALL.iter().all(|p| off.advice(*p).is_none()));
        // jit_above_cost = -1 disables JIT as surely as jit = off.
        let never = JitSettings { enabled: true, above_cost: -1.0 };
        assert!(never.advice(Phase::NewOnly).is_none());
        assert!(on.advice(Phase::ReadNew).is_some_and(|a| a.contains("jit_above_cost 100000")));
    }
}
