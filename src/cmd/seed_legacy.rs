//! `switchyard seed-legacy`: the legacy TodoList schema and realistic data.

use switchyard_control::legacy::{self, SeedOptions};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value_t = 100)]
    pub users: u32,
    #[arg(long, default_value_t = 50)]
    pub todos_per_user: u32,
    /// Random seed: the same seed (and --anchor) gives the same rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The "now" generated timestamps are relative to (RFC 3339); default: now.
    #[arg(long)]
    pub anchor: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let anchor = match &args.anchor {
        Some(a) => chrono::DateTime::parse_from_rfc3339(a)
            .map_err(|e| anyhow::anyhow!("--anchor {a:?} is not an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let mut client = super::connect(&args.database_url).await?;
    if legacy::ensure_schema(&client).await.map_err(pg)? {
        println!("created the legacy schema (users, projects, todos, files)");
    }
    let opts = SeedOptions { users: args.users, todos_per_user: args.todos_per_user, seed: args.seed, anchor };
    let started = std::time::Instant::now();
    let c = legacy::load(&mut client, &opts).await.map_err(pg)?;
    println!(
        "loaded {} users, {} projects, {} todos, {} files in {:.1} s",
        c.users,
        c.projects,
        c.todos,
        c.files,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn pg(e: tokio_postgres::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", switchyard_pgconn::describe_pg_error(&e))
}
