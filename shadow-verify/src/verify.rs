//! The table verifier's I/O: chunk boundaries, N parallel jobs (one
//! connection each), the chunk comparison and its drill-down, and the depth
//! check; then the representative reads ([`crate::reads`]). The SQL comes
//! from [`crate::plan`], the classification from [`crate::diff`], and
//! everything lands in a [`Report`].
//!
//! A failure of one chunk or check is recorded in the report (the run then
//! exits 2, "could not run") and the other jobs carry on, so a CI job still
//! gets a report saying what was and was not compared; only failures before
//! any comparison (connecting, missing tables) return an error.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use switchyard_pgconn::describe_pg_error;
use tokio::sync::mpsc;
use tokio_postgres::{Client, Statement};
use uuid::Uuid;

use crate::chunks::{fractions, ranges_from_boundaries, KeyRange};
use crate::diff::{classify, Difference, DifferenceKind, DrillRow};
use crate::plan::Spec;
use crate::report::{chunk_name, CheckResult, ChunkResult, Report, Settings};
use crate::throttle::Throttle;

/// Legacy tables with at most this many rows (by the planner's estimate) get
/// exact boundaries; larger ones get sampled boundaries.
pub const EXACT_BOUNDARIES_UP_TO: u64 = 200_000;

/// What kept the verifier from starting.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("table {0} does not exist (run `switchyard migrate` first?)")]
    MissingTable(String),
    #[error("{context}: {message}")]
    Database { context: &'static str, message: String },
    #[error("invalid option: {0}")]
    Options(String),
}

/// How to run a verification.
#[derive(Debug, Clone)]
pub struct Options {
    pub database_url: String,
    pub spec: Spec,
    /// Parallel chunk jobs, each with its own connection.
    pub jobs: usize,
    /// Legacy rows per chunk (approximately, for sampled boundaries).
    pub chunk_size: u64,
    pub max_rows_per_sec: Option<u64>,
    /// Differences listed in the report (all are counted).
    pub max_differences: usize,
    /// Representative reads to compare (`--queries`).
    pub queries: Vec<crate::queries::Query>,
    /// Draw a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Up to this many legacy rows (planner estimate), chunk boundaries are
    /// exact; above, they come from a block sample.
    pub exact_boundaries_up_to: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            database_url: String::new(),
            spec: Spec::default(),
            jobs: 2,
            chunk_size: 100_000,
            max_rows_per_sec: None,
            max_differences: 1000,
            queries: Vec::new(),
            progress: true,
            exact_boundaries_up_to: EXACT_BOUNDARIES_UP_TO,
        }
    }
}

fn db_err(context: &'static str) -> impl Fn(tokio_postgres::Error) -> VerifyError {
    move |e| VerifyError::Database { context, message: describe_pg_error(&e) }
}

/// Opens one connection for the verifier, driven on a background task.
pub async fn connect(url: &str) -> Result<Client, VerifyError> {
    let client = switchyard_pgconn::connect(url).await.map_err(|e| VerifyError::Connect(e.to_string()))?;
    // Many short range scans: JIT compilation would cost more than it saves.
    client
        .batch_execute("SET application_name = 'switchyard verify'; SET jit = off")
        .await
        .map_err(db_err("setting up the session"))?;
    Ok(client)
}

enum Work {
    Depth,
    Chunk(usize, KeyRange),
}

pub(crate) enum Outcome {
    Chunk {
        result: ChunkResult,
        differences: Vec<Difference>,
        not_yet_archived: u64,
        archived_early: u64,
    },
    /// `unlisted`: differences found beyond those returned (the check's
    /// statement lists at most `max_differences`).
    Check {
        result: CheckResult,
        differences: Vec<Difference>,
        unlisted: (DifferenceKind, u64),
    },
    Failed {
        what: String,
        error: String,
    },
}

/// Runs a full verification and returns its report.
pub async fn verify(opts: &Options) -> Result<Report, VerifyError> {
    if opts.jobs == 0 || opts.chunk_size == 0 {
        return Err(VerifyError::Options("--jobs and --chunk-size must be at least 1".into()));
    }
    let started = Instant::now();
    let main = connect(&opts.database_url).await?;
    let mut report = start_report(&main, opts).await?;
    let ranges = ranges_from_boundaries(&boundaries(&main, opts).await?);
    let main = compare_chunks(main, opts, ranges, &mut report).await?;
    match main {
        Some(mut main) => crate::reads::run_all(&mut main, &opts.queries, &mut report).await,
        None if !opts.queries.is_empty() => {
            report.add_error("the representative reads were not run: the main connection failed")
        }
        None => {}
    }
    finish(&mut report, started);
    Ok(report)
}

/// Checks the tables exist and opens the report with the run's settings.
async fn start_report(main: &Client, opts: &Options) -> Result<Report, VerifyError> {
    let started_at = chrono::Utc::now();
    check_tables(main, &opts.spec).await?;
    let database: String =
        main.query_one("SELECT current_database()", &[]).await.map_err(db_err("reading the database name"))?.get(0);
    let settings = Settings {
        jobs: opts.jobs,
        chunk_size: opts.chunk_size,
        max_rows_per_sec: opts.max_rows_per_sec,
        retention_days: opts.spec.retention_days,
        max_differences: opts.max_differences,
    };
    let mut report = Report::new(format!("switchyard verify {}", env!("CARGO_PKG_VERSION")), database, settings);
    report.started_at = started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(report)
}

/// Compares every range and runs the depth check on up to `opts.jobs`
/// connections (`main` among them), absorbing the outcomes into `report`.
/// Returns the main connection when its job ended well, for the reads.
async fn compare_chunks(
    main: Client,
    opts: &Options,
    ranges: Vec<KeyRange>,
    report: &mut Report,
) -> Result<Option<Client>, VerifyError> {
    let total_chunks = ranges.len();
    let queue = Arc::new(Mutex::new(work_queue(ranges)));
    let throttle = Arc::new(Throttle::new(opts.max_rows_per_sec));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut handles = Vec::new();
    for _ in 1..opts.jobs.min(total_chunks + 1) {
        let client = connect(&opts.database_url).await?;
        handles.push(tokio::spawn(worker(client, opts.clone(), queue.clone(), throttle.clone(), tx.clone())));
    }
    // The main connection works too, and then runs the queries.
    let main_job = worker(main, opts.clone(), queue.clone(), throttle.clone(), tx.clone());
    drop(tx);

    let bar = progress_bar(opts.progress, total_chunks as u64);
    let collect = async {
        while let Some(o) = rx.recv().await {
            absorb(report, o, &bar);
        }
    };
    let (main, ()) = tokio::join!(main_job, collect);
    for h in handles {
        if let Err(e) = h.await {
            report.add_error(format!("a verify job panicked: {e}"));
        }
    }
    bar.finish_and_clear();
    let compared = report.chunks.len();
    if compared < total_chunks && report.errors.is_empty() {
        report.add_error(format!("only {compared} of {total_chunks} chunks were compared"));
    }
    sort_in_key_order(report);
    Ok(main)
}

/// The depth check first (one long statement, so it overlaps the chunks on
/// another connection), then the ranges in key order.
fn work_queue(ranges: Vec<KeyRange>) -> VecDeque<Work> {
    let mut queue: VecDeque<Work> = VecDeque::with_capacity(ranges.len() + 1);
    queue.push_back(Work::Depth);
    queue.extend(ranges.into_iter().enumerate().map(|(i, r)| Work::Chunk(i + 1, r)));
    queue
}

/// Chunks in key order; differences by chunk in key order, then the
/// whole-table checks.
fn sort_in_key_order(report: &mut Report) {
    report.chunks.sort_by_key(|c| c.index);
    let order = |d: &Difference| {
        let chunk = d.check.strip_prefix("chunk ").and_then(|n| n.parse::<usize>().ok());
        (chunk.is_none(), chunk.unwrap_or(0), d.check.clone(), d.id.clone())
    };
    report.differences.sort_by_key(order);
}

/// Times and closes the report.
fn finish(report: &mut Report, started: Instant) {
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if report.elapsed_seconds > 0.0 {
        report.rows_per_second = report.rows.legacy as f64 / report.elapsed_seconds;
    }
    report.clean = report.exit_code() == crate::report::EXIT_CLEAN;
}

fn progress_bar(enabled: bool, len: u64) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "verify {bar:30} {pos}/{len} chunks, {msg} [{elapsed_precise}, eta {eta}]",
    ) {
        bar.set_style(style);
    }
    bar
}

fn absorb(report: &mut Report, o: Outcome, bar: &indicatif::ProgressBar) {
    match o {
        Outcome::Chunk { result, differences, not_yet_archived, archived_early } => {
            report.rows.legacy += result.legacy_rows;
            report.rows.active += result.active_rows;
            report.rows.archived += result.archived_rows;
            report.warnings.not_yet_archived += not_yet_archived;
            report.warnings.archived_within_retention += archived_early;
            report.chunks.push(result);
            for d in differences {
                report.add_difference(d);
            }
            bar.inc(1);
            bar.set_message(format!("{} rows, {} differences", report.rows.legacy, report.total_differences));
        }
        Outcome::Check { result, differences, unlisted } => {
            report.add_check(result);
            for d in differences {
                report.add_difference(d);
            }
            report.add_unlisted(unlisted.0, unlisted.1);
        }
        Outcome::Failed { what, error } if what == "depth" => {
            report.add_check(CheckResult { name: what, error: Some(error), ..CheckResult::default() })
        }
        Outcome::Failed { what, error } => report.add_error(format!("{what}: {error}")),
    }
}

async fn check_tables(client: &Client, spec: &Spec) -> Result<(), VerifyError> {
    for t in [&spec.legacy, &spec.active, &spec.archived] {
        let row = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&crate::plan::quote_ident(t)])
            .await
            .map_err(db_err("looking up the tables"))?;
        if !row.get::<_, bool>(0) {
            return Err(VerifyError::MissingTable(t.clone()));
        }
    }
    Ok(())
}

/// Chunk boundaries over the legacy key: exact for small tables, from a
/// block sample for large ones (uuids are spread evenly enough that a sample
/// balances the chunks; the cover is complete either way).
async fn boundaries(client: &Client, opts: &Options) -> Result<Vec<Uuid>, VerifyError> {
    let (spec, chunk_size) = (&opts.spec, opts.chunk_size);
    let err = db_err("finding chunk boundaries");
    let mut estimate: f64 = client.query_one(&spec.estimate_sql(), &[]).await.map_err(&err)?.get(0);
    if estimate < 0.0 {
        // Never analysed: count once rather than guess.
        let sql = format!("SELECT count(*) FROM {}", crate::plan::quote_ident(&spec.legacy));
        estimate = client.query_one(&sql, &[]).await.map_err(&err)?.get::<_, i64>(0) as f64;
    }
    if estimate <= opts.exact_boundaries_up_to as f64 {
        let size = i64::try_from(chunk_size).unwrap_or(i64::MAX);
        let rows = client.query(&spec.exact_boundaries_sql(), &[&size]).await.map_err(&err)?;
        return rows.iter().map(|r| r.try_get::<_, Uuid>(0)).collect::<Result<_, _>>().map_err(&err);
    }
    let k = (estimate / chunk_size as f64).ceil().max(1.0) as usize;
    let wanted = (k * 50).max(20_000) as f64;
    let percent = (wanted / estimate * 100.0).clamp(0.01, 100.0);
    let row = client.query_one(&spec.sampled_boundaries_sql(percent), &[&fractions(k)]).await.map_err(&err)?;
    let found: Option<Vec<Option<Uuid>>> = row.try_get(0).map_err(&err)?;
    Ok(found.unwrap_or_default().into_iter().flatten().collect())
}

struct Prepared {
    compare: Statement,
    drill: Statement,
}

/// One job: takes work until the queue is empty. Returns its client when it
/// ends well (for the queries), `None` after a failure.
async fn worker(
    client: Client,
    opts: Options,
    queue: Arc<Mutex<VecDeque<Work>>>,
    throttle: Arc<Throttle>,
    tx: mpsc::UnboundedSender<Outcome>,
) -> Option<Client> {
    let prepared = match prepare(&client, &opts.spec).await {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(Outcome::Failed { what: "preparing the comparison".into(), error: describe_pg_error(&e) });
            return None;
        }
    };
    loop {
        let work = match queue.lock() {
            Ok(mut q) => q.pop_front(),
            Err(_) => None,
        };
        let outcome = match work {
            None => return Some(client),
            Some(Work::Depth) => crate::depth::check(&client, &opts)
                .await
                .unwrap_or_else(|e| Outcome::Failed { what: "depth".into(), error: describe_pg_error(&e) }),
            Some(Work::Chunk(index, range)) => {
                match compare_chunk(&client, &prepared, &opts.spec, index, range).await {
                    Ok(o) => {
                        if let Outcome::Chunk { result, .. } = &o {
                            throttle.wait(result.legacy_rows).await;
                        }
                        o
                    }
                    Err(e) => Outcome::Failed { what: chunk_name(index), error: describe_pg_error(&e) },
                }
            }
        };
        let failed = matches!(outcome, Outcome::Failed { .. });
        if tx.send(outcome).is_err() || failed {
            return None;
        }
    }
}

async fn prepare(client: &Client, spec: &Spec) -> Result<Prepared, tokio_postgres::Error> {
    Ok(Prepared {
        compare: client.prepare(&spec.chunk_compare_sql()).await?,
        drill: client.prepare(&spec.chunk_drill_sql()).await?,
    })
}

pub(crate) fn count(row: &tokio_postgres::Row, col: &str) -> Result<u64, tokio_postgres::Error> {
    Ok(row.try_get::<_, i64>(col)?.max(0) as u64)
}

async fn compare_chunk(
    client: &Client,
    p: &Prepared,
    spec: &Spec,
    index: usize,
    range: KeyRange,
) -> Result<Outcome, tokio_postgres::Error> {
    let started = Instant::now();
    let mut row = client.query_one(&p.compare, &[&range.lo, &range.hi]).await?;
    let mut differences = Vec::new();
    let name = chunk_name(index);
    for attempt in 0..2 {
        let matched: bool = row.try_get("matched")?;
        if matched && count(&row, "archived_not_done")? == 0 {
            break;
        }
        differences = drill(client, p, spec, range, &name).await?;
        if !differences.is_empty() || attempt == 1 {
            break;
        }
        // The sides differed in one snapshot but no row differs in the next:
        // something changed in between. Compare again before calling it.
        row = client.query_one(&p.compare, &[&range.lo, &range.hi]).await?;
    }
    let matched: bool = row.try_get("matched")?;
    let result = ChunkResult {
        index,
        lo: range.lo.to_string(),
        hi: range.hi.to_string(),
        legacy_rows: count(&row, "legacy_rows")?,
        active_rows: count(&row, "active_rows")?,
        archived_rows: count(&row, "archived_rows")?,
        matched: matched && count(&row, "archived_not_done")? == 0 && differences.is_empty(),
        differences: differences.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Outcome::Chunk {
        result,
        differences,
        not_yet_archived: count(&row, "not_yet_archived")?,
        archived_early: count(&row, "archived_early")?,
    })
}

async fn drill(
    client: &Client,
    p: &Prepared,
    spec: &Spec,
    range: KeyRange,
    check: &str,
) -> Result<Vec<Difference>, tokio_postgres::Error> {
    let rows = client.query(&p.drill, &[&range.lo, &range.hi]).await?;
    let drilled = rows
        .iter()
        .map(|r| {
            Ok(DrillRow {
                id: r.try_get("id")?,
                in_legacy: r.try_get("in_legacy")?,
                new_table: r.try_get("new_table")?,
                new_status: r.try_get("new_status")?,
                differs: r.try_get::<_, Vec<Option<bool>>>("differs")?.into_iter().map(|b| b.unwrap_or(true)).collect(),
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok(classify(&drilled, &spec.columns, &spec.archived, check))
}
