//! Shadow reads (design §5): a sample of the reads of the migrated table is
//! run again, off the client's path, in its legacy and new forms in ONE
//! statement on a side connection, so both forms see one snapshot and
//! concurrent writes cause no false differences.
//!
//! - [`ShadowSampler`] is shared by every session: a sample rate per phase
//!   (configured, overridden at run time by `switchyard.shadow_settings`,
//!   polled), a bounded queue that the router offers jobs to with `try_send`
//!   (full: the job is dropped and counted, the client never waits), and
//!   worker tasks with their own connections.
//! - Parameters: the client's Bind values are kept as raw bytes with their
//!   format codes, and the shadow statement is prepared on the side
//!   connection with the parameter type OIDs the client's Parse named (0:
//!   inferred by PostgreSQL, as for the client's statement). Each value is
//!   sent back in the format the client used (a text-format value as text, a
//!   binary one as binary): PostgreSQL decodes them exactly as it decoded the
//!   client's.
//! - Outcomes: `switchyard_shadow_reads_total{outcome}` (match, mismatch,
//!   skipped, dropped, error) and `switchyard_shadow_skipped_total{reason}`.
//!   A mismatch is logged and sampled into `switchyard.shadow_mismatches`
//!   (capped by a trigger) with the first differing rows each way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use switchyard_rewriter::{Action, CommandTag, MigrationSpec, Phase, Plan};
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

use crate::protocol::bind::BindParams;
use crate::Metrics;

/// Every phase, indexed like the sampler's rates.
pub const PHASES: [Phase; 5] = [Phase::Legacy, Phase::DualWrite, Phase::ReadNew, Phase::WriteNew, Phase::NewOnly];

fn phase_index(p: Phase) -> usize {
    PHASES.iter().position(|x| *x == p).unwrap_or(0)
}

/// How many differing rows each way a mismatch sample keeps.
const SAMPLE_ROWS: usize = 5;

/// Shadow-read settings.
#[derive(Debug, Clone)]
pub struct ShadowConfig {
    /// Sample rate (0..=1) per phase, indexed like [`PHASES`].
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

/// One parameter value as the client bound it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// 0 text, 1 binary.
    pub format: i16,
    /// None for NULL.
    pub value: Option<Bytes>,
}

impl Param {
    /// The value for a mismatch sample: text as is, binary as `\x` hex.
    fn display(&self) -> serde_json::Value {
        match &self.value {
            None => serde_json::Value::Null,
            Some(v) if self.format == 0 => serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
            Some(v) => {
                let mut s = String::with_capacity(2 + v.len() * 2);
                s.push_str("\\x");
                for b in v.iter() {
                    s.push_str(&format!("{b:02x}"));
                }
                serde_json::Value::String(s)
            }
        }
    }
}

/// The parameter values of a Bind message body after its portal and
/// statement names (`rest`), or None when malformed.
pub fn params_from_bind(rest: &[u8]) -> Option<Vec<Param>> {
    let bind = BindParams::decode(rest).ok()?;
    let params = bind
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| Param { format: bind.param_format(i), value: v.map(Bytes::copy_from_slice) });
    Some(params.collect())
}

/// A read to compare (or to count as skipped).
#[derive(Debug, Clone)]
pub struct ShadowJob {
    pub phase: Phase,
    /// The client's statement text.
    pub statement: String,
    /// The plan's shadow statement; None when the read cannot be compared
    /// (the worker finds out why and counts it as skipped).
    pub shadow: Option<switchyard_rewriter::shadow::ShadowRead>,
    /// Parameter type OIDs from the client's Parse (0: unspecified).
    pub param_types: Vec<u32>,
    pub params: Vec<Param>,
}

impl ShadowJob {
    pub fn new(phase: Phase, statement: &str, plan: &Plan, param_types: &[u32], params: Vec<Param>) -> ShadowJob {
        ShadowJob {
            phase,
            statement: statement.to_string(),
            shadow: plan.shadow.clone(),
            param_types: param_types.to_vec(),
            params,
        }
    }
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
    rates: [AtomicU64; 5],
    configured: [f64; 5],
    tx: mpsc::Sender<ShadowJob>,
    metrics: Arc<Metrics>,
    /// Whether the backfill has completed (polled with the settings). Until
    /// it has, the new tables lack rows legacy has, so a comparison in
    /// dual_write would report a difference that is only the copy not being
    /// done yet: such reads are counted as skipped instead.
    backfill_complete: AtomicBool,
}

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
            self.metrics.shadow_skipped("backfill_incomplete");
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => self.metrics.shadow_queued(1),
            Err(_) => self.metrics.shadow_outcome("dropped"),
        }
    }

    fn apply_settings(&self, rows: &[(String, f64)]) {
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
            match c.query("SELECT phase, sample_rate FROM switchyard.shadow_settings", &[]).await {
                Ok(rows) => {
                    let rows: Vec<(String, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                    if let Some(s) = sampler.upgrade() {
                        s.apply_settings(&rows);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "shadow settings not read"),
            }
            let done = c
                .query_opt("SELECT completed FROM switchyard.backfill_progress WHERE table_name = $1", &[&table])
                .await;
            if let (Ok(done), Some(s)) = (done, sampler.upgrade()) {
                s.backfill_complete.store(done.is_some_and(|r| r.get::<_, bool>(0)), Relaxed);
            }
        }
        tokio::time::sleep(config.settings_poll).await;
    }
}

/// Why a read was not compared (labels of `switchyard_shadow_skipped_total`).
pub const SKIP_REASONS: &[&str] = &[
    "limit_without_total_order",
    "volatile_function",
    "locking_read",
    "type_without_equality",
    "not_comparable",
    "backfill_incomplete",
];

enum Outcome {
    Match,
    Mismatch,
    Skipped(&'static str),
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
                    metrics.shadow_outcome("error");
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
            Ok(Outcome::Match) => metrics.shadow_outcome("match"),
            Ok(Outcome::Mismatch) => metrics.shadow_outcome("mismatch"),
            Ok(Outcome::Skipped(reason)) => metrics.shadow_skipped(reason),
            Ok(Outcome::Ignored) => {}
            Err(e) => {
                metrics.shadow_outcome("error");
                tracing::warn!(error = %e, statement = %job.statement, "shadow read failed");
            }
        }
    }
}

/// Why a read of the table that has no shadow statement was not compared.
fn skip_reason(sql: &str, spec: &MigrationSpec) -> Option<&'static str> {
    let a = switchyard_rewriter::classify::analyze(sql, spec).ok().flatten()?;
    if a.reads.is_empty() || !a.sites.is_empty() {
        return None;
    }
    Some(if a.locks_table {
        "locking_read"
    } else if a.unordered_limit {
        "limit_without_total_order"
    } else if a.volatile {
        "volatile_function"
    } else {
        "not_comparable"
    })
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
    let phase = job.phase.as_str();
    if let Err(e) = client
        .execute(
            "INSERT INTO switchyard.shadow_mismatches \
             (phase, instance_id, statement, params, legacy_rows, new_rows, only_in_legacy, only_in_new, sample) \
             VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8, $9::text::jsonb)",
            &[
                &phase,
                &config.instance_id,
                &job.statement,
                &params,
                &legacy_rows,
                &new_rows,
                &only_legacy,
                &only_new,
                &sample,
            ],
        )
        .await
    {
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
        Ok(Outcome::Skipped("type_without_equality"))
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_parameters_keep_their_formats() {
        // 2 format codes (text, binary), 3 params? no: 2 params, then results.
        let mut b = BytesMut::new();
        b.put_i16(2);
        b.put_i16(0);
        b.put_i16(1);
        b.put_i16(2);
        b.put_i32(2);
        b.put_slice(b"42");
        b.put_i32(-1);
        b.put_i16(0);
        let p = params_from_bind(&b).unwrap_or_default();
        assert_eq!(
            p,
            vec![Param { format: 0, value: Some(Bytes::from_static(b"42")) }, Param { format: 1, value: None }]
        );
        let mut one = BytesMut::new();
        one.put_i16(1);
        one.put_i16(1);
        one.put_i16(1);
        one.put_i32(4);
        one.put_i32(7);
        one.put_i16(0);
        let p = params_from_bind(&one).unwrap_or_default();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].format, 1);
        assert_eq!(p[0].display(), serde_json::json!("\\x00000007"));
        assert!(params_from_bind(&[0, 0, 0, 1, 0, 0]).is_none());
    }

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
