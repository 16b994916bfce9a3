//! The processes a soak runs and kills: `switchyard serve` instances, the
//! backfill (killed with SIGKILL midway, then resumed), and the archival
//! loop beside the workload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use switchyard_workload::CancellationToken;
use tokio::process::{Child, Command};

/// One `switchyard serve` on a fixed port, restartable after a kill.
pub struct ProxyInstance {
    pub listen: SocketAddr,
    exe: PathBuf,
    upstream: String,
    log: PathBuf,
    child: Option<Child>,
}

impl ProxyInstance {
    pub async fn start(exe: &Path, upstream: &str, log: PathBuf) -> anyhow::Result<ProxyInstance> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut p = ProxyInstance {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            exe: exe.to_path_buf(),
            upstream: upstream.to_string(),
            log,
            child: None,
        };
        p.spawn().await?;
        Ok(p)
    }

    /// The URL clients connect to, for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@{}/{db}", self.listen)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.exe)
            .args(["serve", "--listen", &self.listen.to_string(), "--upstream", &self.upstream])
            .args(["--phase-poll-interval", "0.2"])
            .env("RUST_LOG", std::env::var("SWITCHYARD_SOAK_PROXY_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting switchyard serve")?;
        self.child = Some(child);
        crate::cmd::demo::wait_listening(self.listen).await
    }

    /// SIGKILL, then the same command again on the same port.
    pub async fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.start_kill()?;
            c.wait().await?;
        }
        self.spawn().await
    }
}

/// `switchyard backfill` in small paced batches, so that it can be killed
/// midway: SIGKILL once it has committed a batch, then resumed until done.
pub async fn backfill_killed_midway(
    exe: &Path,
    url: &str,
    batch: i64,
    admin: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    let args = backfill_args(url, batch);
    let mut child =
        Command::new(exe).args(&args).stdin(Stdio::null()).stdout(Stdio::null()).kill_on_drop(true).spawn()?;
    loop {
        let copied = switchyard_control::store::backfill_progress::rows_copied(admin, "todos").await?;
        if copied > 0 {
            break;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the backfill ended ({status}) before it could be killed midway");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill()?;
    child.wait().await?;
    println!("  backfill killed with SIGKILL midway; resuming");
    // The killed process's backend may hold the runner lock a moment longer.
    for _ in 0..100 {
        let out = Command::new(exe).args(&args).stdin(Stdio::null()).output().await?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("another backfill is running") {
            anyhow::bail!("the resumed backfill failed: {stderr}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the resumed backfill never got the runner lock")
}

fn backfill_args(url: &str, batch: i64) -> Vec<String> {
    ["backfill", "--database-url", url, "--batch-size", &batch.to_string(), "--max-batch-ms", "0", "--sleep-ms", "100"]
        .map(String::from)
        .to_vec()
}

/// Archives done todos (retention zero, so the clients' completions go too)
/// in small batches until stopped, with `switchyard maintain daily` every
/// tenth round. Returns rounds run and rounds failed (connection losses
/// during faults included).
pub async fn archival_loop(exe: PathBuf, url: String, stop: CancellationToken) -> (u64, u64) {
    let (mut rounds, mut failed) = (0, 0);
    let mut client = None;
    while !stop.is_cancelled() {
        rounds += 1;
        let ok = if rounds % 10 == 0 {
            let args = ["maintain", "daily", "--database-url", &url, "--retention", "0s", "--batch-size", "200"];
            let out = Command::new(&exe).args(args).stdin(Stdio::null()).output().await;
            out.is_ok_and(|o| o.status.success())
        } else {
            archive_batch(&url, &mut client).await
        };
        failed += u64::from(!ok);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            _ = stop.cancelled() => {}
        }
    }
    (rounds, failed)
}

async fn archive_batch(url: &str, client: &mut Option<tokio_postgres::Client>) -> bool {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        *client = match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((c, conn)) => {
                tokio::spawn(conn);
                Some(c)
            }
            Err(_) => return false,
        };
    }
    match client {
        Some(c) => c.query_one("SELECT archive_completed_todos_batch(interval '0', 200)", &[]).await.is_ok(),
        None => false,
    }
}
