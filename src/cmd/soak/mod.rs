//! `switchyard soak`: the fault-injection soak (docs/soak.md).
//!
//! On a throwaway cluster with `synchronous_commit = on`: the legacy app's
//! data, `switchyard migrate`, two `switchyard serve` instances, and the
//! soak's clients (see `switchyard_workload::soak`) spread over both. The
//! phase walk dual_write → backfill (killed midway, resumed) → verify →
//! read_new → write_new → read_new → write_new runs with archival in a loop,
//! while faults are injected: three upstream restarts (fast, immediate,
//! fast), three SIGKILLs of a proxy instance and its restart, and one flip
//! while every client holds a transaction open. The last line says
//! `soak: N ops, F faults, lost=L divergent=D errors=E`; the exit status is
//! 0 only when nothing was lost or divergent.

mod procs;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchyard_control::legacy::{self, SeedOptions};
use switchyard_control::phase::Phase;
use switchyard_control::state::{self, MoveRequest};
use switchyard_localpg::{Cluster, ClusterOptions};
use switchyard_workload::soak::{self, SoakConfig, SoakHandle};
use switchyard_workload::CancellationToken;

use procs::ProxyInstance;
use verdict::Timeline;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 500)]
    pub users: u32,
    #[arg(long, default_value_t = 40)]
    pub todos_per_user: u32,
    /// Clients, half on each protocol, spread over the two proxies.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// How long the clients work between two steps of the walk.
    #[arg(long, default_value_t = 20.0)]
    pub step_seconds: f64,
    /// Chance that a write deletes one of the client's users.
    #[arg(long, default_value_t = 0.003)]
    pub user_delete_rate: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What the walk works with.
struct Soak {
    exe: PathBuf,
    cluster: Arc<Cluster>,
    url: String,
    admin: tokio_postgres::Client,
    proxies: Vec<ProxyInstance>,
    timeline: Timeline,
    dwell: Duration,
    clients: usize,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let exe = std::env::current_exe().context("locating the switchyard binary")?;
    let work = std::env::temp_dir().join(format!("switchyard-soak-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let opts = ClusterOptions { extra_conf: vec!["synchronous_commit = on".into()], ..ClusterOptions::default() };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&opts)).await?.context("starting PostgreSQL")?;
    let cluster = Arc::new(cluster);
    super::connect(&cluster.url("postgres")).await?.batch_execute("CREATE DATABASE soak").await?;
    let url = cluster.url("soak");
    let mut admin = super::connect(&url).await?;
    println!("== PostgreSQL on 127.0.0.1:{}, synchronous_commit = on", cluster.port);
    legacy::ensure_schema(&admin).await?;
    let seed = SeedOptions {
        users: args.users,
        todos_per_user: args.todos_per_user,
        seed: args.seed,
        anchor: chrono::Utc::now(),
    };
    let counts =
        legacy::load(&mut admin, &seed).await.map_err(|e| anyhow::anyhow!(switchyard_pgconn::describe_pg_error(&e)))?;
    println!("== legacy app: {} users, {} todos", counts.users, counts.todos);
    let migrate = super::demo::run_child_status(&exe, &["migrate", "--database-url", &url]).await?;
    anyhow::ensure!(migrate == 0, "switchyard migrate exited {migrate}");
    admin.batch_execute(soak::MARKERS_SQL).await?;
    let mut proxies = Vec::new();
    for i in 0..2 {
        proxies.push(ProxyInstance::start(&exe, &url, work.join(format!("proxy-{i}.log"))).await?);
    }
    println!("== proxies on {} and {} (logs in {})", proxies[0].listen, proxies[1].listen, work.display());
    let dwell = Duration::from_secs_f64(args.step_seconds.max(0.5));
    let mut s = Soak { exe, cluster, url, admin, proxies, timeline: Timeline::default(), dwell, clients: args.clients };
    s.flip(Phase::DualWrite, false).await?;
    let config = SoakConfig {
        proxy_urls: s.proxies.iter().map(|p| p.url("soak")).collect(),
        direct_url: s.url.clone(),
        clients: args.clients,
        seed: args.seed,
        user_delete_rate: args.user_delete_rate,
    };
    let handle = soak::start(config).await?;
    let stop_archival = CancellationToken::new();
    let archival = tokio::spawn(procs::archival_loop(s.exe.clone(), s.url.clone(), stop_archival.clone()));
    let walked = s.walk(&handle).await;
    let run = handle.stop().await?;
    stop_archival.cancel();
    let (rounds, failed) = archival.await?;
    println!("== archival: {rounds} rounds, {failed} failed");
    if let Err(e) = walked {
        println!("soak: the walk failed: {e:#}");
        return Ok(1);
    }
    let verify = s.verify().await?;
    let v = verdict::judge(&s.admin, &run, &s.timeline, verify).await?;
    println!("{}", v.line());
    Ok(if v.lost == 0 && v.divergent == 0 { 0 } else { 1 })
}

impl Soak {
    /// The phase walk with its faults.
    async fn walk(&mut self, handle: &SoakHandle) -> anyhow::Result<()> {
        self.settle().await;
        self.restart_upstream("fast").await?;
        self.settle().await;
        println!("== backfill");
        let started = Instant::now();
        let total: i64 = self.admin.query_one("SELECT count(*) FROM todos", &[]).await?.get(0);
        procs::backfill_killed_midway(&self.exe, &self.url, (total / 20).max(20), &self.admin).await?;
        self.timeline.fault("backfill killed with SIGKILL midway and resumed".into(), started);
        handle.control.set_backfilled();
        self.settle().await;
        self.kill_proxy(0).await?;
        self.settle().await;
        let verify = self.verify().await?;
        self.flip(Phase::ReadNew, verify != 0).await?;
        self.settle().await;
        self.restart_upstream("immediate").await?;
        self.settle().await;
        self.flip_under_open_transactions(handle, Phase::WriteNew).await?;
        self.settle().await;
        self.kill_proxy(1).await?;
        self.settle().await;
        self.flip(Phase::ReadNew, false).await?;
        self.settle().await;
        self.restart_upstream("fast").await?;
        self.settle().await;
        self.flip(Phase::WriteNew, false).await?;
        self.settle().await;
        self.kill_proxy(0).await?;
        self.settle().await;
        Ok(())
    }

    async fn settle(&self) {
        tokio::time::sleep(self.dwell).await;
    }

    async fn flip(&mut self, to: Phase, force: bool) -> anyhow::Result<()> {
        let epoch = self.move_phase(to, force).await?;
        super::demo::wait_for_instances(&self.admin, epoch).await?;
        Ok(())
    }

    async fn move_phase(&mut self, to: Phase, force: bool) -> anyhow::Result<i64> {
        let req = MoveRequest {
            table: "todos".into(),
            to,
            reason: "switchyard soak".into(),
            actor: "switchyard soak".into(),
            force,
            confirm: false,
            max_verify_age: Duration::from_secs(3600),
            instance_liveness: Duration::from_secs(30),
        };
        let out = state::move_phase(&mut self.admin, &req).await.with_context(|| format!("moving to {to}"))?;
        println!("== phase {to} (epoch {}){}", out.epoch, if force { ", forced past a failed verify" } else { "" });
        self.timeline.phase(to.as_str());
        Ok(out.epoch)
    }

    /// Every client opens a write transaction and holds it; the phase moves;
    /// then they commit.
    async fn flip_under_open_transactions(&mut self, handle: &SoakHandle, to: Phase) -> anyhow::Result<()> {
        let started = Instant::now();
        let held = handle.control.hold_all(self.clients, Duration::from_secs(20)).await;
        println!("== {held} of {} clients hold a transaction open", self.clients);
        let moved = self.move_phase(to, false).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        handle.control.release();
        let epoch = moved?;
        super::demo::wait_for_instances(&self.admin, epoch).await?;
        self.timeline.fault(format!("flip to {to} while {held} clients held a transaction open"), started);
        anyhow::ensure!(held == self.clients, "only {held} of {} clients held a transaction open", self.clients);
        Ok(())
    }

    async fn restart_upstream(&mut self, mode: &'static str) -> anyhow::Result<()> {
        let started = Instant::now();
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.restart_mode(mode)).await??;
        self.admin = super::connect(&self.url).await?;
        self.timeline.fault(format!("upstream restart -m {mode}"), started);
        Ok(())
    }

    async fn kill_proxy(&mut self, i: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        self.proxies[i].kill_and_restart().await?;
        self.timeline.fault(format!("proxy {} killed with SIGKILL and restarted", self.proxies[i].listen), started);
        Ok(())
    }

    async fn verify(&self) -> anyhow::Result<i32> {
        println!("== switchyard verify");
        super::demo::run_child_status(&self.exe, &["verify", "--database-url", &self.url, "--no-progress"]).await
    }
}
