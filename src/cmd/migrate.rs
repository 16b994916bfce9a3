//! `switchyard migrate`: apply the embedded SQL migrations.

use anyhow::Context;
use switchyard_control::migrate::Migrator;

#[derive(clap::Args)]
pub struct Args {
    /// The database holding the legacy application.
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    /// List what would be applied, apply nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let mut client = super::connect(&args.database_url).await?;
    let migrator = Migrator::embedded();
    let started = std::time::Instant::now();
    let report = migrator.run(&mut client, args.dry_run).await.context("migrate")?;
    if report.applied.is_empty() {
        println!("nothing to do: all {} migrations are already applied", report.already_applied);
        return Ok(0);
    }
    for (name, took) in &report.applied {
        if args.dry_run {
            println!("would apply {name}");
        } else {
            println!("applied {name} ({} ms)", took.as_millis());
        }
    }
    if !args.dry_run {
        println!(
            "{} migrations applied in {:.2} s ({} were already applied)",
            report.applied.len(),
            started.elapsed().as_secs_f64(),
            report.already_applied
        );
    }
    Ok(0)
}
