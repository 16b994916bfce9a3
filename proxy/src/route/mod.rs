//! The router behind the [`crate::Interceptor`] seam: plans each statement
//! that may touch the migrated table with the rewriter for the session's
//! phase, and gives the client back the replies its own statement would
//! have had.
//!
//! - [`router`]: the [`Router`], per-session prepared statements and portals,
//!   refusals, shadow sampling offers;
//! - [`phase_gate`]: what a statement does while the phase is not known;
//! - [`fixup`]: replies restored to what the client's statement would get;
//! - [`legacy_names`] and [`row_origin`]: errors and RowDescriptions named as
//!   the legacy table would name them, from the facts [`catalog`] loads;
//! - [`ask_postgres`]: what PostgreSQL says of the client's own text (parsed
//!   on a side connection, never run), for the errors of rewritten and
//!   refused statements;
//! - [`cursors`]: which cursors were declared over a rewritten read, so that
//!   their FETCH answers are described as legacy's too.

pub mod ask_postgres;
pub mod catalog;
pub mod cursors;
pub mod epochs;
pub mod fixup;
pub mod legacy_names;
pub mod phase_gate;
pub mod refusal;
pub mod router;
pub mod row_origin;

pub use epochs::{EpochTracker, PhaseView};
pub use refusal::refusal_sql;
pub use router::{RouteContext, Router};
