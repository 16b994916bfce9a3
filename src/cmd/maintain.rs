//! `switchyard maintain daily|weekly`: the seed's maintenance procedures.

use std::time::Duration;

use switchyard_control::maintain::{self, MaintainConfig, Procedure, StepOutcome};

#[derive(clap::Args)]
pub struct Args {
    /// `daily` (analyze, partitions ahead, archive, health) or `weekly`
    /// (VACUUM ANALYZE, optional partition drop, health).
    #[arg(value_parser = ["daily", "weekly"])]
    pub procedure: String,
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    /// Archive done todos completed longer ago than this.
    #[arg(long, default_value = "30days", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    #[arg(long, default_value_t = 1000)]
    pub batch_size: i32,
    /// Monthly archive partitions to keep ready ahead of now.
    #[arg(long, default_value_t = 3)]
    pub months_ahead: i32,
    /// Weekly: drop archive partitions wholly older than this (e.g. 365days).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drop_after: Option<Duration>,
    /// Weekly: drop partitions even while the migration still mirrors legacy.
    #[arg(long)]
    pub force_drop: bool,
    /// Hand the todos_archived partitions to the pg_partman extension first
    /// (once; later runs find it managing them and use it either way).
    #[arg(long)]
    pub partman: bool,
    #[command(flatten)]
    pub metrics: super::job_metrics::MetricsArgs,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let metrics_at = args.metrics.start().await?;
    let client = super::connect(&args.database_url).await?;
    let procedure = if args.procedure == "daily" { Procedure::Daily } else { Procedure::Weekly };
    let cfg = MaintainConfig {
        retention: args.retention,
        batch_size: args.batch_size,
        months_ahead: args.months_ahead,
        drop_after: args.drop_after,
        force_drop: args.force_drop,
        partman: args.partman,
        ..MaintainConfig::default()
    };
    let outcomes = maintain::run(&client, procedure, &cfg).await?;
    record_metrics(&args.procedure, &outcomes);
    let mut failed = 0;
    for o in &outcomes {
        println!("{:<7} {:<30} {:>8} ms  {}", if o.ok { "ok" } else { "FAILED" }, o.step, o.took.as_millis(), o.detail);
        failed += usize::from(!o.ok);
    }
    super::job_metrics::linger(metrics_at, args.metrics.metrics_linger).await;
    if failed > 0 {
        eprintln!("switchyard: {failed} maintenance step(s) failed; see above and maintenance_history");
        return Ok(1);
    }
    Ok(0)
}

/// The run's steps as `switchyard_maintenance_*` series.
fn record_metrics(job: &str, outcomes: &[StepOutcome]) {
    for o in outcomes {
        let outcome = if o.ok { "succeeded" } else { "failed" };
        let labels = [("job", job.to_string()), ("step", o.step.clone())];
        metrics::counter!(
            "switchyard_maintenance_steps_total",
            &[("job", job.to_string()), ("step", o.step.clone()), ("outcome", outcome.to_string())]
        )
        .increment(1);
        metrics::gauge!("switchyard_maintenance_step_duration_seconds", &labels).set(o.took.as_secs_f64());
        if let Some(rows) = o.rows.filter(|r| *r > 0) {
            metrics::counter!("switchyard_maintenance_rows_total", &labels).increment(rows as u64);
        }
    }
    if outcomes.iter().all(|o| o.ok) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        metrics::gauge!("switchyard_maintenance_last_success_timestamp_seconds", "job" => job.to_string())
            .set(now.as_secs_f64());
    }
}
