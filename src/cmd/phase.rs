//! Placeholder: being built.

#[derive(clap::Subcommand)]
pub enum PhaseCommand {
    /// Show the current phase.
    Show,
}

pub async fn run(_command: PhaseCommand) -> anyhow::Result<u8> {
    anyhow::bail!("not built yet")
}
