//! The control plane of a Switchyard migration, spoken to PostgreSQL over side
//! connections: schema migrations, the legacy application's schema and data,
//! the phases and their guards, the registry of proxy instances and the
//! watcher that keeps each instance's phase current.

pub mod backfill;
mod error;
pub mod instances;
pub mod legacy;
pub mod maintain;
pub mod migrate;
pub mod partman;
pub mod phase;
pub mod state;
pub mod status;
pub mod watcher;

pub use error::ControlError;
pub use phase::Phase;

/// tokio-postgres prints only "db error"; say what the server said.
pub fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; detail: {d}"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!("; where: {w}"));
            }
            s
        }
        None => e.to_string(),
    }
}
