//! `switchyard workload`: the legacy TodoList app's service layer against a
//! database or a proxy, then its report and optionally the ledger check.
//! Exit 0, or 1 when the ledger check finds a difference. See docs/workload.md.

use std::time::Duration;

use switchyard_workload::{self as wl, LedgerCheck, Schema, WorkloadConfig};

/// Which schemas the ledger check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LedgerSchema {
    /// Legacy, and the new schema too when `todos_active` exists.
    Auto,
    Legacy,
    New,
    Both,
}

#[derive(clap::Args)]
pub struct Args {
    /// Where the app connects: PostgreSQL or switchyard in front of it.
    #[arg(long, env = "SWITCHYARD_WORKLOAD_URL")]
    pub url: String,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds to run (Ctrl-C stops earlier and still reports).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seed of the operation choices (ids stay random); default: random.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of operations sent with the simple protocol (0..=1).
    #[arg(long, default_value_t = 0.35)]
    pub simple_fraction: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// After the run, check the ledger of acknowledged writes against this
    /// database (connect to PostgreSQL itself, not the proxy).
    #[arg(long)]
    pub ledger_check_url: Option<String>,
    /// Schemas the ledger check reads.
    #[arg(long, value_enum, default_value_t = LedgerSchema::Auto)]
    pub ledger_schema: LedgerSchema,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    if !args.duration.is_finite() || args.duration < 0.0 {
        anyhow::bail!("--duration {} is not a number of seconds", args.duration);
    }
    let mut config = WorkloadConfig::new(&args.url, args.clients).with_duration(Duration::from_secs_f64(args.duration));
    config.seed = args.seed;
    config.simple_fraction = args.simple_fraction;
    let stop = wl::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    if !args.json {
        eprintln!("running {} clients for {} s against {}", args.clients, args.duration, redact(&args.url));
    }
    let report = wl::run_until(config, stop).await?;

    let mut checks = Vec::new();
    if let Some(url) = &args.ledger_check_url {
        let client = super::connect(url).await?;
        for schema in schemas(&client, args.ledger_schema).await? {
            checks.push(report.ledger.check(&client, schema).await?);
        }
    }
    let clean = checks.iter().all(LedgerCheck::is_clean);
    let out = if args.json {
        let mut json = report.to_json();
        if let serde_json::Value::Object(map) = &mut json {
            map.insert("ledger_checks".into(), serde_json::to_value(&checks)?);
        }
        serde_json::to_string_pretty(&json)? + "\n"
    } else {
        let mut text = report.render_text();
        for c in &checks {
            text.push_str(&format!("{c}\n"));
        }
        text
    };
    print_out(&out)?;
    Ok(if clean { 0 } else { 1 })
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

async fn schemas(client: &tokio_postgres::Client, wanted: LedgerSchema) -> anyhow::Result<Vec<Schema>> {
    Ok(match wanted {
        LedgerSchema::Legacy => vec![Schema::Legacy],
        LedgerSchema::New => vec![Schema::New],
        LedgerSchema::Both => vec![Schema::Legacy, Schema::New],
        LedgerSchema::Auto => {
            let has_new: bool = client.query_one("SELECT to_regclass('todos_active') IS NOT NULL", &[]).await?.get(0);
            if has_new {
                vec![Schema::Legacy, Schema::New]
            } else {
                vec![Schema::Legacy]
            }
        }
    })
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://app:secret@db:5432/todo"), "postgres://app:***@db:5432/todo");
        assert_eq!(redact("postgres://db/todo"), "postgres://db/todo");
    }
}
