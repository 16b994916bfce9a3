//! `switchyard phase show|set`: the migration engineer's controls.

use std::time::Duration;

use switchyard_control::jit::JitSettings;
use switchyard_control::phase::Phase;
use switchyard_control::state::{self, MoveRequest};
use switchyard_control::ControlError;

#[derive(clap::Args)]
pub struct Target {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    /// The migrated table.
    #[arg(long, default_value = "todos")]
    pub table: String,
}

#[derive(clap::Subcommand)]
pub enum PhaseCommand {
    /// Show the current phase and epoch.
    Show {
        #[command(flatten)]
        target: Target,
    },
    /// Move one step to PHASE (legacy, dual_write, read_new, write_new, new_only).
    Set {
        #[command(flatten)]
        target: Target,
        phase: String,
        /// Why, recorded in the phase history.
        #[arg(long)]
        reason: String,
        /// Skip the guards that may be skipped; what was skipped is recorded.
        #[arg(long)]
        force: bool,
        /// Needed to enter new_only, after which the legacy table is no longer kept.
        #[arg(long)]
        confirm: bool,
        /// read_new needs a clean verify younger than this.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        max_verify_age: Duration,
        /// Instances silent for longer than this are not counted as live.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        instance_liveness: Duration,
    },
}

pub async fn run(command: PhaseCommand) -> anyhow::Result<u8> {
    match command {
        PhaseCommand::Show { target } => {
            let client = super::connect(&target.database_url).await?;
            let s = state::current(&client, &target.table).await?;
            println!(
                "{}: {} (epoch {}) since {} by {}{}",
                s.table,
                s.phase,
                s.epoch,
                s.updated_at.to_rfc3339(),
                s.updated_by,
                s.reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
            Ok(0)
        }
        PhaseCommand::Set { target, phase, reason, force, confirm, max_verify_age, instance_liveness } => {
            let to: Phase = switchyard_control::phase::parse_phase(&phase)?;
            let mut client = super::connect(&target.database_url).await?;
            let actor = std::env::var("USER")
                .map(|u| format!("{u} (switchyard phase set)"))
                .unwrap_or_else(|_| "switchyard phase set".into());
            let req = MoveRequest {
                table: target.table,
                to,
                reason,
                actor,
                force,
                confirm,
                max_verify_age,
                instance_liveness,
            };
            match state::move_phase(&mut client, &req).await {
                Ok(out) => {
                    println!("{}: {} -> {} (epoch {})", req.table, out.from, out.to, out.epoch);
                    for skipped in &out.forced {
                        println!("  forced past: {skipped}");
                    }
                    if let Some(advice) = JitSettings::read(&client).await?.advice(out.to) {
                        eprintln!("switchyard: warning: {advice}");
                    }
                    Ok(0)
                }
                Err(ControlError::Refused(refusals)) => {
                    eprintln!("switchyard: phase change refused:");
                    for r in &refusals {
                        let hint = if r.forceable() { " (--force skips this)" } else { "" };
                        eprintln!("  - {r}{hint}");
                    }
                    Ok(1)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
