//! The comparisons and the settings poll, on side connections of their own
//! (opened on first use, again after a loss), off every client's path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use switchyard_control::store;
use switchyard_rewriter::MigrationSpec;
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

use super::sampler::skip_reason;
use super::{Param, ShadowConfig, ShadowJob, ShadowSampler};
use crate::metrics::{ShadowOutcome, SkipReason};
use crate::Metrics;

/// How many differing rows each way a mismatch sample keeps.
const SAMPLE_ROWS: usize = 5;

impl ShadowSampler {
    /// Starts the workers and the settings poll (on the current runtime).
    pub fn start(config: ShadowConfig, metrics: Arc<Metrics>, spec: MigrationSpec) -> Arc<ShadowSampler> {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let sampler = Arc::new(ShadowSampler {
            rates: config.rates.map(|r| AtomicU64::new(r.to_bits())),
            configured: config.rates,
            tx,
            metrics: Arc::clone(&metrics),
            backfill_complete: AtomicBool::new(false),
        });
        let rx = Arc::new(Mutex::new(rx));
        let spec = Arc::new(spec);
        let config = Arc::new(config);
        for _ in 0..config.workers.max(1) {
            tokio::spawn(worker(Arc::clone(&rx), Arc::clone(&config), Arc::clone(&metrics), Arc::clone(&spec)));
        }
        tokio::spawn(poll_settings(Arc::downgrade(&sampler), Arc::clone(&config), spec.legacy.table.clone()));
        sampler
    }
}

/// Re-reads `switchyard.shadow_settings` (rows override the configured
/// rates; no rows or no table: the configured rates) until the sampler goes.
async fn poll_settings(sampler: std::sync::Weak<ShadowSampler>, config: Arc<ShadowConfig>, table: String) {
    let mut client: Option<tokio_postgres::Client> = None;
    loop {
        if sampler.strong_count() == 0 {
            return;
        }
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = switchyard_pgconn::connect(&config.database_url).await.ok();
        }
        if let Some(c) = &client {
            match store::shadow_settings::sample_rates(c).await {
                Ok(rows) => {
                    if let Some(s) = sampler.upgrade() {
                        s.apply_settings(&rows);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "shadow settings not read"),
            }
            let done = store::backfill_progress::completion(c, &table).await;
            if let (Ok(done), Some(s)) = (done, sampler.upgrade()) {
                s.backfill_complete.store(done.is_some_and(|b| b.completed), Relaxed);
            }
        }
        tokio::time::sleep(config.settings_poll).await;
    }
}

enum Outcome {
    Match,
    Mismatch,
    Skipped(SkipReason),
    /// Not a read of the table after all: not counted.
    Ignored,
}

/// Shadow statements prepared on a side connection, by SQL and parameter types.
type Prepared = HashMap<(String, Vec<u32>), tokio_postgres::Statement>;

async fn worker(
    rx: Arc<Mutex<mpsc::Receiver<ShadowJob>>>,
    config: Arc<ShadowConfig>,
    metrics: Arc<Metrics>,
    spec: Arc<MigrationSpec>,
) {
    // Connected on the first job (a proxy that never samples opens no side
    // connection), again after the connection is lost.
    let mut side: Option<(tokio_postgres::Client, Prepared)> = None;
    loop {
        let job = { rx.lock().await.recv().await };
        let Some(job) = job else { return };
        metrics.shadow_queued(-1);
        if side.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            match switchyard_pgconn::connect(&config.database_url).await {
                Ok(c) => side = Some((c, HashMap::new())),
                Err(e) => {
                    metrics.shadow_outcome(ShadowOutcome::Error);
                    tracing::warn!(error = %e, "shadow reads: cannot connect to the control database");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let Some((client, statements)) = side.as_mut() else {
            continue;
        };
        match run(client, statements, &job, &spec, &config).await {
            Ok(Outcome::Match) => metrics.shadow_outcome(ShadowOutcome::Match),
            Ok(Outcome::Mismatch) => metrics.shadow_outcome(ShadowOutcome::Mismatch),
            Ok(Outcome::Skipped(reason)) => metrics.shadow_skipped(reason),
            Ok(Outcome::Ignored) => {}
            Err(e) => {
                metrics.shadow_outcome(ShadowOutcome::Error);
                tracing::warn!(error = %e, statement = %job.statement, "shadow read failed");
            }
        }
    }
}

/// A parameter written as the client sent it, in the client's format.
#[derive(Debug)]
struct Raw<'a>(&'a Param);

impl ToSql for Raw<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0.value {
            None => Ok(IsNull::Yes),
            Some(v) => {
                out.put_slice(v);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();

    fn encode_format(&self, _ty: &Type) -> Format {
        if self.0.format == 1 {
            Format::Binary
        } else {
            Format::Text
        }
    }
}

/// A type of the given OID for `prepare_typed` (0: let PostgreSQL infer it).
fn type_of(oid: u32) -> Type {
    Type::from_oid(oid)
        .unwrap_or_else(|| Type::new(String::new(), oid, tokio_postgres::types::Kind::Simple, String::new()))
}

async fn run(
    client: &tokio_postgres::Client,
    statements: &mut Prepared,
    job: &ShadowJob,
    spec: &MigrationSpec,
    config: &ShadowConfig,
) -> Result<Outcome, tokio_postgres::Error> {
    let Some(shadow) = &job.shadow else {
        return Ok(skip_reason(&job.statement, spec).map_or(Outcome::Ignored, Outcome::Skipped));
    };
    let sql = shadow.with_samples_sql(SAMPLE_ROWS);
    let key = (sql, job.param_types.clone());
    let stmt = match statements.get(&key) {
        Some(s) => s.clone(),
        None => {
            let types: Vec<Type> = job.param_types.iter().map(|o| type_of(*o)).collect();
            let s = match client.prepare_typed(&key.0, &types).await {
                Ok(s) => s,
                Err(e) => return no_equality(e),
            };
            if statements.len() >= 256 {
                statements.clear();
            }
            statements.insert(key.clone(), s.clone());
            s
        }
    };
    let params: Vec<Raw<'_>> = job.params.iter().map(Raw).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let row = match client.query_one(&stmt, &refs).await {
        Ok(r) => r,
        Err(e) => return no_equality(e),
    };
    let (legacy_rows, new_rows, only_legacy, only_new): (i64, i64, i64, i64) =
        (row.get("legacy_rows"), row.get("new_rows"), row.get("only_in_legacy"), row.get("only_in_new"));
    if only_legacy == 0 && only_new == 0 {
        return Ok(Outcome::Match);
    }
    let sample = serde_json::json!({
        "only_in_legacy": row.get::<_, serde_json::Value>("sample_only_in_legacy"),
        "only_in_new": row.get::<_, serde_json::Value>("sample_only_in_new"),
    })
    .to_string();
    let params = serde_json::Value::Array(job.params.iter().map(Param::display).collect()).to_string();
    tracing::warn!(
        phase = %job.phase,
        statement = %job.statement,
        params = %params,
        only_in_legacy = only_legacy,
        only_in_new = only_new,
        sample = %sample,
        "shadow read mismatch: the legacy and new forms of a read differ"
    );
    let mismatch = store::shadow_mismatches::NewMismatch {
        phase: job.phase.as_str(),
        instance_id: config.instance_id.as_deref(),
        statement: &job.statement,
        params: &params,
        legacy_rows,
        new_rows,
        only_in_legacy: only_legacy,
        only_in_new: only_new,
        sample: &sample,
    };
    if let Err(e) = store::shadow_mismatches::record(client, &mismatch).await {
        tracing::warn!(error = %e, "shadow mismatch sample not recorded");
    }
    Ok(Outcome::Mismatch)
}

/// A comparison PostgreSQL cannot make (a column type without equality,
/// such as json) is a skip, not an error.
fn no_equality(e: tokio_postgres::Error) -> Result<Outcome, tokio_postgres::Error> {
    let undefined_eq = e.as_db_error().is_some_and(|d| {
        d.code() == &tokio_postgres::error::SqlState::UNDEFINED_FUNCTION && d.message().contains("equality operator")
    });
    if undefined_eq {
        Ok(Outcome::Skipped(SkipReason::TypeWithoutEquality))
    } else {
        Err(e)
    }
}
