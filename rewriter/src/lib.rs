//! Switchyard's rewriter: pure logic, no I/O.
//!
//! A migration spec ([`MigrationSpec`], shipped as `migrations/todos.toml`),
//! a [`Phase`] and one SQL statement in; a [`Plan`] out: pass the bytes
//! through, send a rewritten statement (and restore the client's view with
//! [`ResultShape`]), or refuse with SQLSTATE 0A000 and a reason (invariant I4).
//!
//! - [`fastpath`] decides lexically, without parsing, that a statement cannot
//!   touch the legacy table; such statements pass through byte for byte.
//! - [`classify`] parses with sqlparser and locates every reference to the
//!   table by span; [`splice`] edits the original text only at those spans.
//! - [`read`] turns reads into a union of `todos_active` and `todos_archived`;
//!   [`write`] wraps writes so the mirror function sees their row images in
//!   the same statement (invariant I1).
//! - [`lock`] serves locking reads from the new tables, locking row by row
//!   where legacy would; [`mask`] shows the parser the PostgreSQL syntax it
//!   lacks (lock strengths, `DECLARE` options) without moving a byte.
//! - [`shadow`] is the statement comparing a read's two forms in one snapshot.
//! - [`cache`] keeps plans by (phase, text).
//!
//! # Example
//! ```
//! use switchyard_rewriter::{Rewriter, Phase, Action};
//! let rw = Rewriter::with_default_spec();
//! let p = rw.plan(Phase::ReadNew, "SELECT title FROM todos WHERE id = $1");
//! assert_eq!(p.action, Action::Rewrite);
//! assert!(p.sql.contains("todos_archived"));
//! assert!(p.sql.ends_with(") AS todos WHERE id = $1"));
//! assert_eq!(rw.plan(Phase::ReadNew, "SELECT 1").action, Action::Passthrough);
//! ```

pub mod cache;
pub mod classify;
pub mod fastpath;
pub mod lex;
pub mod lock;
pub mod mask;
mod mirror;
pub mod origins;
pub mod plan;
pub mod planner;
pub mod read;
pub mod refuse;
mod set_list;
pub mod shadow;
pub mod shape;
pub mod span;
pub mod spec;
pub mod splice;
mod upsert;
pub mod write;

use std::sync::Arc;

pub use cache::{CacheStats, PlanCache};
pub use origins::ColumnOrigin;
pub use plan::{Action, CommandTag, Phase, Plan, ResultShape, REFUSAL_SQLSTATE};
pub use spec::{check_catalog, CatalogColumns, CatalogMismatch, MigrationSpec, SpecError};

/// Default number of cached plans.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// A spec plus a shared plan cache: what the proxy holds, one per process.
pub struct Rewriter {
    spec: Arc<MigrationSpec>,
    cache: PlanCache,
}

impl Rewriter {
    pub fn new(spec: MigrationSpec, cache_capacity: usize) -> Self {
        Rewriter { spec: Arc::new(spec), cache: PlanCache::new(cache_capacity) }
    }

    /// The shipped todos spec and the default cache size.
    pub fn with_default_spec() -> Self {
        Rewriter::new(MigrationSpec::default_todos(), DEFAULT_CACHE_CAPACITY)
    }

    pub fn spec(&self) -> &MigrationSpec {
        &self.spec
    }

    /// True when the statement provably cannot touch the legacy table: the
    /// proxy forwards it unparsed, without consulting the cache.
    pub fn is_fast_passthrough(&self, sql: &str) -> bool {
        fastpath::scan(sql, &self.spec.legacy.table) == fastpath::Touch::No
    }

    /// The plan for `sql` in `phase`, cached.
    pub fn plan(&self, phase: Phase, sql: &str) -> Arc<Plan> {
        if phase == Phase::Legacy || self.is_fast_passthrough(sql) {
            return Arc::new(Plan::passthrough(sql));
        }
        self.cache.get_or_insert_with(phase, sql, || planner::plan(&self.spec, phase, sql))
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}
