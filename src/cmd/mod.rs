//! One module per subcommand: argument parsing and wiring, no logic of its own.

pub mod backfill;
pub mod demo;
pub mod job_metrics;
pub mod logging;
pub mod maintain;
pub mod migrate;
pub mod phase;
pub mod rewrite;
pub mod seed_legacy;
pub mod serve;
pub mod soak;
pub mod status;
pub mod status_page;
pub mod verify;
pub mod workload;

/// Connects to `url` for a short-lived command, driving the connection on a
/// background task, with the URL's TLS settings (switchyard-pgconn).
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    switchyard_pgconn::connect(url).await.map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))
}
