//! `switchyard verify`: compare legacy `todos` with the new schema, write the
//! reports, record the run in `switchyard.verify_runs`. Exit 0 clean, 1
//! differences, 2 could not run. See docs/verify.md.

use std::path::PathBuf;

use switchyard_shadow_verify::{self as sv, Format, Options, Spec};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    /// Parallel chunk comparisons, one connection each.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Legacy rows per chunk (each chunk is one statement, one snapshot).
    /// Ids are random, so a chunk reads about one heap page per row until
    /// chunks grow large: big chunks are much cheaper per row (see
    /// docs/benchmarks.md, "Verifier").
    #[arg(long, default_value_t = 100_000)]
    pub chunk_size: u64,
    /// Average read rate limit over all jobs (legacy rows per second).
    #[arg(long)]
    pub max_rows_per_sec: Option<u64>,
    /// Days after completion when a done todo is due for archival; done rows
    /// past it still in todos_active are reported as a warning, not a difference.
    #[arg(long, default_value_t = 30)]
    pub retention_days: u32,
    /// A JSON file of representative reads, each compared in its legacy form
    /// and the form the proxy's rewriter sends in read_new.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Report format, repeatable: the N-th --format applies to the N-th
    /// --output; formats beyond the outputs go to stdout.
    #[arg(long = "format")]
    pub formats: Vec<Format>,
    /// Report file, repeatable: its format is the --format in the same
    /// position, else its extension (.json, .xml, .md, else text).
    #[arg(long = "output")]
    pub outputs: Vec<PathBuf>,
    /// Differences listed in the reports (all are counted).
    #[arg(long, default_value_t = 1000)]
    pub max_differences: usize,
    /// Do not record the run in switchyard.verify_runs.
    #[arg(long)]
    pub no_record: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Which format goes where: `(Some(path), format)` for files, `(None,
/// format)` for stdout. Stdout gets the text report unless formats are left
/// over after the outputs.
pub fn destinations(formats: &[Format], outputs: &[PathBuf]) -> Vec<(Option<PathBuf>, Format)> {
    let mut out: Vec<(Option<PathBuf>, Format)> = outputs
        .iter()
        .enumerate()
        .map(|(i, p)| (Some(p.clone()), formats.get(i).copied().unwrap_or_else(|| Format::from_path(p))))
        .collect();
    let extra: Vec<Format> = formats.iter().skip(outputs.len()).copied().collect();
    if extra.is_empty() {
        out.push((None, Format::Text));
    } else {
        out.extend(extra.into_iter().map(|f| (None, f)));
    }
    out
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let spec = Spec { retention_days: args.retention_days, ..Spec::default() };
    let queries = match &args.queries {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read --queries {}: {e}", path.display()))?;
            let rewriter_spec = switchyard_rewriter::MigrationSpec::default_todos();
            sv::queries::parse_file(&text, &rewriter_spec)
                .map_err(|e| anyhow::anyhow!("--queries {}: {e}", path.display()))?
        }
    };
    let opts = Options {
        database_url: args.database_url.clone(),
        spec: spec.clone(),
        jobs: args.jobs,
        chunk_size: args.chunk_size,
        max_rows_per_sec: args.max_rows_per_sec,
        max_differences: args.max_differences,
        queries,
        progress: !args.no_progress,
        ..Options::default()
    };
    let recorder = if args.no_record { None } else { start_record(&args.database_url, &spec.legacy).await };

    let report = match sv::verify(&opts).await {
        Ok(r) => r,
        Err(e) => {
            if let Some((client, id)) = &recorder {
                let summary = serde_json::json!({ "error": e.to_string() });
                if let Err(e) = sv::runs::record_finish(client, *id, None, 0, &summary).await {
                    tracing::warn!("cannot record the failed run: {}", switchyard_pgconn::describe_pg_error(&e));
                }
            }
            anyhow::bail!("verify could not run: {e}");
        }
    };

    if let Some((client, id)) = &recorder {
        let clean = if report.errors.is_empty() { Some(report.clean) } else { None };
        let differences = i64::try_from(report.total_differences).unwrap_or(i64::MAX);
        if let Err(e) = sv::runs::record_finish(client, *id, clean, differences, &report.summary()).await {
            eprintln!(
                "switchyard: warning: cannot record the run in switchyard.verify_runs: {}",
                switchyard_pgconn::describe_pg_error(&e)
            );
        }
    }

    let mut write_failed = false;
    for (path, format) in destinations(&args.formats, &args.outputs) {
        let body = format.render(&report);
        match path {
            None => print!("{body}"),
            Some(p) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Err(e) = std::fs::write(&p, body) {
                    eprintln!("switchyard: cannot write {}: {e}", p.display());
                    write_failed = true;
                }
            }
        }
    }
    if write_failed {
        return Ok(sv::EXIT_COULD_NOT_RUN);
    }
    Ok(report.exit_code())
}

/// Inserts the run's row; a database without the control schema gets a
/// warning, not a failure (the comparison itself does not need it).
async fn start_record(url: &str, table: &str) -> Option<(tokio_postgres::Client, i64)> {
    let client = match super::connect(url).await {
        Ok(c) => c,
        Err(_) => return None, // verify itself reports the connection error
    };
    match sv::runs::record_start(&client, table).await {
        Ok(id) => Some((client, id)),
        Err(e) => {
            eprintln!(
                "switchyard: warning: not recording this run in switchyard.verify_runs: {}",
                switchyard_pgconn::describe_pg_error(&e)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_pair_with_outputs_by_position_then_by_extension() {
        let d = destinations(&[Format::Json], &["a.txt".into(), "b.xml".into(), "c.md".into()]);
        assert_eq!(
            d,
            vec![
                (Some("a.txt".into()), Format::Json),
                (Some("b.xml".into()), Format::Junit),
                (Some("c.md".into()), Format::Markdown),
                (None, Format::Text),
            ]
        );
        assert_eq!(destinations(&[Format::Markdown], &[]), vec![(None, Format::Markdown)]);
        assert_eq!(destinations(&[], &[]), vec![(None, Format::Text)]);
    }
}
