//! The control plane of a Switchyard migration, spoken to PostgreSQL over side
//! connections: schema migrations, the legacy application's schema and data,
//! the phases and their guards, the watcher that keeps each instance's
//! phase current, and ([`store`]) every statement against the control tables.

pub mod backfill;
mod error;
pub mod jit;
pub mod legacy;
pub mod maintain;
pub mod migrate;
pub mod partman;
pub mod phase;
pub mod schema_dump;
pub mod state;
pub mod status;
pub mod store;
pub mod watcher;

pub use error::ControlError;
pub use phase::Phase;
