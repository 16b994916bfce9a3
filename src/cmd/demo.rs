//! `switchyard demo`: the whole migration on a throwaway PostgreSQL.
//!
//! Starts PostgreSQL from the system's binaries, loads the legacy TodoList
//! app, applies the migrations, starts the proxy (`switchyard serve`, as a
//! child process, the way it runs in production) and the app's workload
//! through it, and walks the phases the way the runbook does: dual_write,
//! the backfill with its progress, the verifier and its report, read_new,
//! write_new, new_only, each behind its guards. Then the daily maintenance
//! archives old done todos, and a report shows rows moved, every phase with
//! its workload ops and errors, the verify result, the partition
//! distribution and the seed's Phase 5.4 measurements on this data.
//!
//! Exit status 0 only when the workload saw no error, verify was clean and
//! the ledger of acknowledged writes matches the database. Ctrl-C stops
//! everything and removes the cluster; `--keep` leaves it running.

mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_control::migrate::Migrator;
use switchyard_control::phase::{parse_phase, Phase};
use switchyard_control::state::{self, MoveRequest};
use switchyard_control::store::proxy_instances;
use switchyard_localpg::{Cluster, ClusterOptions};
use switchyard_workload::{Schema, WorkloadConfig};

use report::DemoReport;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 200)]
    pub users: u32,
    #[arg(long, default_value_t = 50)]
    pub todos_per_user: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Workload clients through the proxy.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long the workload runs in each phase.
    #[arg(long, default_value_t = 5.0)]
    pub phase_seconds: f64,
    /// The phases to walk after legacy, one step at a time (the backfill and
    /// verify run on entering dual_write).
    #[arg(long, default_value = "dual_write,read_new,write_new,new_only", value_delimiter = ',')]
    pub walk: Vec<String>,
    /// Where the proxy listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Leave PostgreSQL and the proxy running until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let walk: Vec<Phase> = args.walk.iter().map(|p| parse_phase(p.trim())).collect::<Result<_, _>>()?;
    tokio::select! {
        result = demo(args, walk) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted: stopping the proxy and PostgreSQL");
            Ok(130)
        }
    }
}

fn step(what: &str) {
    println!("\n== {what}");
}

/// A child process killed when dropped (the proxy).
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn demo(args: Args, walk: Vec<Phase>) -> anyhow::Result<u8> {
    let started = Instant::now();
    let exe = std::env::current_exe().context("locating the switchyard binary")?;
    let (_cluster, url, mut client) = start_postgres(args.keep).await?;
    load_legacy(&mut client, &args).await?;
    migrate(&mut client).await?;
    let (proxy, proxy_url) = start_proxy(&exe, args.listen, &url).await?;

    step(&format!("starting the app's workload through the proxy: {} clients", args.clients));
    let workload = switchyard_workload::start(WorkloadConfig::new(proxy_url.clone(), args.clients))
        .await
        .map_err(|e| anyhow::anyhow!("starting the workload: {e}"))?;
    let dwell = Duration::from_secs_f64(args.phase_seconds.max(0.5));
    workload.mark("legacy");
    tokio::time::sleep(dwell).await;
    let walked = walk_phases(&mut client, &exe, &url, walk, &workload, dwell).await?;
    let report_run = workload.stop_and_wait().await.map_err(|e| anyhow::anyhow!("workload: {e}"))?;
    let final_phase = state::current(&client, "todos").await?.phase;
    step("daily maintenance (switchyard maintain daily)");
    run_child(&exe, &["maintain", "daily", "--database-url", &url]).await?;
    let ledger_clean = check_ledger(&client, &report_run, final_phase).await?;

    let demo_report =
        DemoReport::gather(&client, &report_run, walked.rows_moved, walked.verify_ok, ledger_clean, started.elapsed())
            .await?;
    println!("{}", demo_report.render_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&demo_report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.keep {
        println!(
            "\nstill running:\n  psql '{proxy_url}'   # through switchyard\n  psql '{url}'   # PostgreSQL directly\nCtrl-C stops both."
        );
        tokio::signal::ctrl_c().await?;
    }
    drop(proxy);
    Ok(if demo_report.ok() { 0 } else { 1 })
}

/// Starts the throwaway cluster (removed when dropped unless `keep`) with
/// an empty `todoapp` database; returns it, that database's URL and a
/// client of it.
async fn start_postgres(keep: bool) -> anyhow::Result<(Cluster, String, tokio_postgres::Client)> {
    step("starting a throwaway PostgreSQL");
    let opts = ClusterOptions { keep, ..ClusterOptions::default() };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&opts)).await?.context("starting PostgreSQL")?;
    let admin = super::connect(&cluster.url("postgres")).await?;
    admin.batch_execute("CREATE DATABASE todoapp").await?;
    let url = cluster.url("todoapp");
    let client = super::connect(&url).await?;
    println!("  PostgreSQL on 127.0.0.1:{} (data in {})", cluster.port, cluster.data_dir.display());
    Ok((cluster, url, client))
}

/// The legacy app's schema and seeded data.
async fn load_legacy(client: &mut tokio_postgres::Client, args: &Args) -> anyhow::Result<()> {
    step(&format!("loading the legacy TodoList app: {} users x {} todos", args.users, args.todos_per_user));
    legacy::ensure_schema(client).await?;
    let seed = SeedOptions {
        users: args.users,
        todos_per_user: args.todos_per_user,
        seed: args.seed,
        anchor: chrono::Utc::now(),
    };
    let counts =
        legacy::load(client, &seed).await.map_err(|e| anyhow::anyhow!(switchyard_pgconn::describe_pg_error(&e)))?;
    println!("  {} users, {} projects, {} todos, {} files", counts.users, counts.projects, counts.todos, counts.files);
    Ok(())
}

async fn migrate(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    step("applying Switchyard's migrations (switchyard migrate)");
    let applied = Migrator::embedded().run(client, false).await?;
    for (name, took) in &applied.applied {
        println!("  {name} ({} ms)", took.as_millis());
    }
    Ok(())
}

/// Starts `switchyard serve` in front of `url` (on a free port when
/// `listen`'s is 0) and waits until it listens; returns it and the URL the
/// app connects to.
async fn start_proxy(exe: &PathBuf, listen: SocketAddr, url: &str) -> anyhow::Result<(Child, String)> {
    step("starting the proxy (switchyard serve)");
    let listen = match listen.port() {
        0 => SocketAddr::new(listen.ip(), std::net::TcpListener::bind(listen)?.local_addr()?.port()),
        _ => listen,
    };
    let proxy = Child(
        tokio::process::Command::new(exe)
            .args(["serve", "--listen", &listen.to_string(), "--upstream", url, "--phase-poll-interval", "0.2"])
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting switchyard serve")?,
    );
    let proxy_url = format!("postgres://postgres@{listen}/todoapp");
    wait_listening(listen).await?;
    println!("  listening on {listen}; the app connects to {proxy_url}");
    Ok((proxy, proxy_url))
}

/// What walking the phases found.
struct Walked {
    /// `None` when the walk never entered dual_write.
    verify_ok: Option<bool>,
    rows_moved: i64,
}

/// Moves through `walk` one phase at a time, each once every instance runs
/// it, with the workload marked and running `dwell` in each; on entering
/// dual_write, backfills and verifies, and stops there if verify differs.
async fn walk_phases(
    client: &mut tokio_postgres::Client,
    exe: &PathBuf,
    url: &str,
    walk: Vec<Phase>,
    workload: &switchyard_workload::WorkloadHandle,
    dwell: Duration,
) -> anyhow::Result<Walked> {
    let mut walked = Walked { verify_ok: None, rows_moved: 0 };
    for to in walk {
        step(&format!("phase {to}"));
        let out = move_phase(client, to).await?;
        wait_for_instances(client, out).await?;
        workload.mark(to.as_str());
        println!("  every proxy instance now runs {to} (epoch {out}) for new transactions");
        if to == Phase::DualWrite && walked.verify_ok.is_none() {
            step("backfill (switchyard backfill)");
            run_child(exe, &["backfill", "--database-url", url]).await?;
            walked.rows_moved = switchyard_control::store::backfill_progress::rows_copied(&*client, "todos").await?;
            step("verify (switchyard verify)");
            let code = run_child_status(exe, &["verify", "--database-url", url]).await?;
            walked.verify_ok = Some(code == 0);
            if code != 0 {
                println!("  verify exited {code}: not moving on to read_new");
                break;
            }
        }
        tokio::time::sleep(dwell).await;
    }
    Ok(walked)
}

/// Checks the ledger of acknowledged writes against the schemas the final
/// phase keeps; true when every one matches.
async fn check_ledger(
    client: &tokio_postgres::Client,
    run: &switchyard_workload::WorkloadReport,
    final_phase: Phase,
) -> anyhow::Result<bool> {
    step("checking the ledger of acknowledged writes");
    let schemas: &[Schema] = if final_phase == Phase::NewOnly {
        &[Schema::New]
    } else if final_phase == Phase::Legacy {
        &[Schema::Legacy]
    } else {
        &[Schema::Legacy, Schema::New]
    };
    let mut ledger_clean = true;
    for schema in schemas {
        let check = run.ledger.check(client, *schema).await.map_err(|e| anyhow::anyhow!("ledger: {e}"))?;
        println!(
            "  {schema:?}: {}",
            if check.is_clean() {
                "every acknowledged write is there, nothing else".to_string()
            } else {
                format!("{check:?}")
            }
        );
        ledger_clean &= check.is_clean();
    }
    Ok(ledger_clean)
}

pub(super) async fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("the proxy did not start listening on {addr}")
}

async fn move_phase(client: &mut tokio_postgres::Client, to: Phase) -> anyhow::Result<i64> {
    let req = MoveRequest {
        table: "todos".into(),
        to,
        reason: format!("switchyard demo moves to {to}"),
        actor: "switchyard demo".into(),
        force: false,
        confirm: to == Phase::NewOnly,
        max_verify_age: Duration::from_secs(3600),
        instance_liveness: Duration::from_secs(30),
    };
    let out = state::move_phase(client, &req).await.with_context(|| format!("moving to {to}"))?;
    Ok(out.epoch)
}

/// Waits until every live instance acknowledges `epoch` (no transaction of
/// an older phase is left).
pub(super) async fn wait_for_instances(client: &tokio_postgres::Client, epoch: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if proxy_instances::behind(client, epoch, Duration::from_secs(30)).await? == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("proxy instances did not acknowledge epoch {epoch} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_child(exe: &PathBuf, args: &[&str]) -> anyhow::Result<()> {
    let code = run_child_status(exe, args).await?;
    if code != 0 {
        anyhow::bail!("switchyard {} exited {code}", args.first().copied().unwrap_or(""));
    }
    Ok(())
}

pub(super) async fn run_child_status(exe: &PathBuf, args: &[&str]) -> anyhow::Result<i32> {
    let status = tokio::process::Command::new(exe).args(args).stdin(Stdio::null()).status().await?;
    Ok(status.code().unwrap_or(-1))
}
