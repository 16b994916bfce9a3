//! `switchyard backfill [pause|resume]`: copy existing rows into the new schema.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use switchyard_control::backfill::{self, BackfillConfig, Progress};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Pause a running backfill (it stops before its next batch).
    Pause(Target),
    /// Let a paused backfill continue.
    Resume(Target),
}

#[derive(clap::Args)]
pub struct Target {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value = "todos")]
    pub table: String,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, default_value = "todos")]
    pub table: String,
    /// Rows per batch to start with.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: i64,
    /// Adapt the batch size so one batch takes about this long (0: fixed size).
    #[arg(long, default_value_t = 500)]
    pub max_batch_ms: u64,
    /// Sleep between batches.
    #[arg(long, default_value_t = 0)]
    pub sleep_ms: u64,
    /// lock_timeout of a batch; timeouts are retried with jitter.
    #[arg(long, default_value_t = 500)]
    pub lock_timeout_ms: u64,
    /// Pause while a replica lags more than this (e.g. 10s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_replica_lag: Option<Duration>,
    /// Forget the checkpoint and start over.
    #[arg(long)]
    pub restart: bool,
    /// Key ranges copied side by side, each on its own connection; fixed
    /// when the backfill starts (a resumed run finishes the ranges left).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Start even if a live proxy instance is still in legacy.
    #[arg(long)]
    pub ignore_instances: bool,
    #[command(flatten)]
    pub metrics: super::job_metrics::MetricsArgs,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    match args.action {
        Some(Action::Pause(t)) => toggle(&t, true).await,
        Some(Action::Resume(t)) => toggle(&t, false).await,
        None => run_backfill(args.run).await,
    }
}

async fn toggle(t: &Target, paused: bool) -> anyhow::Result<u8> {
    let client = super::connect(&t.database_url).await?;
    if backfill::set_paused(&client, &t.table, paused).await? {
        println!(
            "backfill of {} {}",
            t.table,
            if paused { "paused (takes effect before its next batch)" } else { "resumed" }
        );
        Ok(0)
    } else {
        eprintln!("switchyard: no backfill of {} has started", t.table);
        Ok(1)
    }
}

async fn run_backfill(a: RunArgs) -> anyhow::Result<u8> {
    super::logging::init(false);
    let metrics_at = a.metrics.start().await?;
    let url = a.database_url.ok_or_else(|| anyhow::anyhow!("--database-url or SWITCHYARD_DATABASE_URL is required"))?;
    let mut client = super::connect(&url).await?;
    client.batch_execute(&format!("SET application_name = 'switchyard backfill pid {}'", std::process::id())).await?;
    let cfg = BackfillConfig {
        table: a.table,
        batch_size: a.batch_size,
        max_batch: (a.max_batch_ms > 0).then(|| Duration::from_millis(a.max_batch_ms)),
        sleep: Duration::from_millis(a.sleep_ms),
        lock_timeout: Duration::from_millis(a.lock_timeout_ms),
        max_replica_lag: a.max_replica_lag,
        restart: a.restart,
        ignore_instances: a.ignore_instances,
        jobs: a.jobs.max(1),
        database_url: Some(url.clone()),
        ..BackfillConfig::default()
    };
    let started = Instant::now();
    let mut display = Display::new();
    let result = backfill::run(&mut client, &cfg, |p| display.update(p)).await;
    display.finish();
    let p = result?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backfill complete: {} rows in {} batches; this run {:.1} s{}",
        p.rows_copied,
        p.batches,
        secs,
        if p.lock_retries > 0 { format!(", {} lock timeouts retried", p.lock_retries) } else { String::new() }
    );
    super::job_metrics::linger(metrics_at, a.metrics.metrics_linger).await;
    Ok(0)
}

/// A progress bar on a terminal, a log line every few seconds otherwise.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
    first_rows: Option<i64>,
}

impl Display {
    fn new() -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} backfill [{bar:40}] {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Display { bar, last_line: Instant::now(), started: Instant::now(), first_rows: None }
    }

    fn update(&mut self, p: &Progress) {
        let first = *self.first_rows.get_or_insert(p.rows_copied);
        if let Some(bar) = &self.bar {
            bar.set_length(p.total_estimate.max(p.rows_copied) as u64);
            bar.set_position(p.rows_copied as u64);
            bar.set_message(if p.paused { "PAUSED".to_string() } else { format!("batch {}", p.batch_size) });
            return;
        }
        if self.last_line.elapsed() >= Duration::from_secs(2) || p.completed || p.paused {
            self.last_line = Instant::now();
            let rate = (p.rows_copied - first) as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "backfill: {} / ~{} rows, {:.0} rows/s, batch size {}{}",
                p.rows_copied,
                p.total_estimate,
                rate,
                p.batch_size,
                if p.paused { " (paused)" } else { "" }
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
