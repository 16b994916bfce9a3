//! `switchyard`: the online table-migration proxy for PostgreSQL.
//!
//! A thin command-line edge over the library crates; each subcommand lives in
//! its own module under `cmd/`. Exit status: 0 success, 1 failure (or, for
//! `verify`, differences), 2 could not run, 3 a refused statement (`rewrite`).

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(name = "switchyard", version, about = "Online table-migration proxy for PostgreSQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// TLS of the database connections when the URL has no sslmode (as
    /// PGSSLMODE; `serve` follows its upstream settings instead).
    #[arg(long, global = true, value_parser = ["disable", "prefer", "require", "verify-ca", "verify-full"])]
    sslmode: Option<String>,
    /// PEM roots for verify-ca and verify-full when the URL has no
    /// sslrootcert (as PGSSLROOTCERT) [default: the system bundle].
    #[arg(long, global = true)]
    sslrootcert: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy that legacy applications connect to.
    Serve(Box<cmd::serve::Args>),
    /// Apply Switchyard's SQL migrations (new schema, control schema, functions).
    Migrate(cmd::migrate::Args),
    /// Create the legacy TodoList schema (when absent) and fill it with realistic data.
    SeedLegacy(cmd::seed_legacy::Args),
    /// Show how a statement is rewritten in a phase, or pre-flight check many.
    Rewrite(cmd::rewrite::Args),
    /// Show or change the migration phase (reads and writes, old and new schema).
    #[command(subcommand)]
    Phase(cmd::phase::PhaseCommand),
    /// Phase, history, proxy instances, backfill progress and the last verify.
    Status(cmd::status::Args),
    /// Copy existing legacy rows into the new schema beside live traffic.
    Backfill(cmd::backfill::Args),
    /// Compare the legacy table with the new schema and report differences.
    Verify(cmd::verify::Args),
    /// Run the seed's daily or weekly maintenance procedure.
    Maintain(cmd::maintain::Args),
    /// Act like the TodoList app's service layer against a database or proxy.
    Workload(cmd::workload::Args),
    /// Fault-injection soak: the phase walk under faults, every acknowledged write checked.
    Soak(cmd::soak::Args),
    /// The whole thing on a throwaway PostgreSQL: legacy app, migration, proxy.
    Demo(cmd::demo::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The connection code reads libpq's variables; the flags set them while
    // the process is still single-threaded.
    if let Some(mode) = &cli.sslmode {
        std::env::set_var("PGSSLMODE", mode);
    }
    if let Some(path) = &cli.sslrootcert {
        std::env::set_var("PGSSLROOTCERT", path);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchyard: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(*args).await,
            Command::Migrate(args) => cmd::migrate::run(args).await,
            Command::SeedLegacy(args) => cmd::seed_legacy::run(args).await,
            Command::Rewrite(args) => cmd::rewrite::run(args).await,
            Command::Phase(command) => cmd::phase::run(command).await,
            Command::Status(args) => cmd::status::run(args).await,
            Command::Backfill(args) => cmd::backfill::run(args).await,
            Command::Verify(args) => cmd::verify::run(args).await,
            Command::Maintain(args) => cmd::maintain::run(args).await,
            Command::Workload(args) => cmd::workload::run(args).await,
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Soak(args) => cmd::soak::run(args).await,
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
