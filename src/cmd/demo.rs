//! `switchyard demo`: the whole thing on a throwaway PostgreSQL.
//!
//! Starts PostgreSQL from the system's binaries, loads the legacy TodoList
//! app with realistic data, applies the migrations, and starts the proxy in
//! front of it. Ctrl-C at any point stops everything and removes the cluster
//! (`--keep` leaves both running until Ctrl-C and prints how to connect).

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_control::migrate::Migrator;
use switchyard_localpg::{Cluster, ClusterOptions};
use switchyard_proxy::{Config, Proxy, Upstream};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 200)]
    pub users: u32,
    #[arg(long, default_value_t = 50)]
    pub todos_per_user: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the proxy listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Leave PostgreSQL and the proxy running until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    tokio::select! {
        result = demo(args) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: stopping the proxy and PostgreSQL");
            Ok(130)
        }
    }
}

async fn demo(args: Args) -> anyhow::Result<u8> {
    let started = Instant::now();
    step("starting a throwaway PostgreSQL");
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(&ClusterOptions::default()))
        .await?
        .context("starting PostgreSQL")?;
    let admin = super::connect(&cluster.url("postgres")).await?;
    admin.batch_execute("CREATE DATABASE todoapp").await?;
    let url = cluster.url("todoapp");
    let mut client = super::connect(&url).await?;
    println!("  PostgreSQL on 127.0.0.1:{} (data in {})", cluster.port, cluster.data_dir.display());

    step(&format!("loading the legacy TodoList app: {} users x {} todos", args.users, args.todos_per_user));
    legacy::ensure_schema(&client).await?;
    let opts = SeedOptions { users: args.users, todos_per_user: args.todos_per_user, seed: args.seed, anchor: chrono::Utc::now() };
    let counts = legacy::load(&mut client, &opts).await.map_err(|e| anyhow::anyhow!(switchyard_control::describe_pg_error(&e)))?;
    println!("  {} users, {} projects, {} todos, {} files", counts.users, counts.projects, counts.todos, counts.files);

    step("applying Switchyard's migrations");
    let report = Migrator::embedded().run(&mut client, false).await?;
    for (name, took) in &report.applied {
        println!("  {name} ({} ms)", took.as_millis());
    }

    step("starting the proxy");
    let config = Config::new(args.listen, Upstream::parse(&format!("127.0.0.1:{}", cluster.port))?);
    let proxy = Proxy::bind(config).await?;
    let proxy_addr = proxy.local_addr()?;
    let handle = proxy.handle();
    let server = tokio::spawn(proxy.run());
    let proxy_url = format!("postgres://postgres@{proxy_addr}/todoapp");
    let through = super::connect(&proxy_url).await?;
    let n: i64 = through.query_one("SELECT count(*) FROM todos", &[]).await?.get(0);
    println!("  listening on {proxy_addr}; {n} todos visible through it");

    println!("\ndemo ready in {:.1} s", started.elapsed().as_secs_f64());
    if args.keep {
        println!("\nconnect with:\n  psql '{proxy_url}'   # through switchyard\n  psql '{url}'   # PostgreSQL directly\nCtrl-C stops both.");
        tokio::signal::ctrl_c().await?;
    }
    handle.shutdown();
    let _ = server.await;
    Ok(0)
}

fn step(what: &str) {
    println!("\n== {what}");
}
