//! Starting and stopping one throwaway cluster.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::binaries::BinDir;
use crate::{Error, Result};

/// How to start a cluster. The defaults suit tests: durability off (fsync,
/// synchronous_commit) because the data is thrown away, room for 300 clients.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Extra `postgresql.conf` lines, e.g. `"ssl = on"`.
    pub extra_conf: Vec<String>,
    /// `pg_hba.conf` lines placed before the catch-all `trust` lines.
    pub hba_lines: Vec<String>,
    pub max_connections: u32,
    /// Keep the data directory when the process exits (for `demo --keep`).
    pub keep: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            extra_conf: Vec::new(),
            hba_lines: vec![
                "host all sy_scram 127.0.0.1/32 scram-sha-256".into(),
                "host all sy_md5 127.0.0.1/32 md5".into(),
                "host all sy_password 127.0.0.1/32 password".into(),
            ],
            max_connections: 300,
            keep: false,
        }
    }
}

/// A running throwaway cluster. Superuser `postgres`, trust auth on loopback
/// (except the password roles of [`crate::TEST_ROLES`]).
#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
    pub data_dir: PathBuf,
    /// Directory of the Unix socket, for `psql -h`.
    pub socket_dir: PathBuf,
    bin: BinDir,
}

/// Clusters to stop when the process exits (registered with `atexit`, which
/// `std::process::exit` and a normal return from `main` both run).
static TO_STOP: Mutex<Vec<(PathBuf, PathBuf, bool)>> = Mutex::new(Vec::new());

extern "C" fn stop_all_at_exit() {
    let list = match TO_STOP.lock() {
        Ok(mut l) => std::mem::take(&mut *l),
        Err(_) => return,
    };
    for (pg_ctl, data_dir, keep) in list {
        if keep {
            continue;
        }
        let _ =
            as_postgres(Command::new(&pg_ctl).arg("stop").arg("-m").arg("immediate").arg("-D").arg(&data_dir)).output();
        if let Some(parent) = data_dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// When we are root, run as the `postgres` user: PostgreSQL refuses root.
fn as_postgres(cmd: &mut Command) -> &mut Command {
    // SAFETY: geteuid and getpwnam read process and passwd state only.
    unsafe {
        if libc::geteuid() == 0 {
            let name = c"postgres";
            let pw = libc::getpwnam(name.as_ptr());
            if !pw.is_null() {
                cmd.uid((*pw).pw_uid).gid((*pw).pw_gid);
            }
        }
    }
    cmd
}

fn postgres_owner() -> Option<(u32, u32)> {
    // SAFETY: as above.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"postgres".as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(|e| Error::Command { command: format!("{cmd:?}"), detail: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command: format!("{cmd:?}"),
            detail: format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        })
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// initdb + start on a free port; blocks until it accepts connections.
    pub fn start(opts: &ClusterOptions) -> Result<Cluster> {
        let bin = BinDir::locate()?;
        let root = std::env::temp_dir().join(format!("switchyard-pg-{}-{}", std::process::id(), unique()));
        let data_dir = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir)?;
        if let Some((uid, gid)) = postgres_owner() {
            for d in [&root, &socket_dir] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))?;
            }
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        run(as_postgres(
            Command::new(bin.tool("initdb"))
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-D"])
                .arg(&data_dir),
        ))?;
        let port = free_port()?;
        let mut conf = vec![
            format!("port = {port}"),
            "listen_addresses = '127.0.0.1'".into(),
            format!("unix_socket_directories = '{}'", socket_dir.display()),
            format!("max_connections = {}", opts.max_connections),
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
            "shared_buffers = 256MB".into(),
            "max_locks_per_transaction = 256".into(),
            "log_min_messages = warning".into(),
            "timezone = 'UTC'".into(),
        ];
        conf.extend(opts.extra_conf.iter().cloned());
        append(&data_dir.join("postgresql.conf"), &conf.join("\n"))?;
        let mut hba = opts.hba_lines.clone();
        hba.extend([
            "local all all trust".into(),
            "host all all 127.0.0.1/32 trust".into(),
            "host all all ::1/128 trust".into(),
        ]);
        std::fs::write(data_dir.join("pg_hba.conf"), hba.join("\n") + "\n")?;

        let pg_ctl = bin.tool("pg_ctl");
        let log = root.join("postgres.log");
        if let Some((uid, gid)) = postgres_owner() {
            std::fs::write(&log, "")?;
            std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
        }
        TO_STOP.lock().map_err(|_| Error::Command { command: "register".into(), detail: "poisoned".into() })?.push((
            pg_ctl.clone(),
            data_dir.clone(),
            opts.keep,
        ));
        static REGISTER: std::sync::Once = std::sync::Once::new();
        // SAFETY: registering a plain extern "C" fn with no captured state.
        REGISTER.call_once(|| unsafe {
            libc::atexit(stop_all_at_exit);
        });
        run(as_postgres(
            Command::new(&pg_ctl)
                .arg("start")
                .arg("-w")
                .arg("-t")
                .arg("60")
                .arg("-D")
                .arg(&data_dir)
                .arg("-l")
                .arg(&log),
        ))
        .map_err(|e| match e {
            Error::Command { .. } => {
                Error::StartTimeout { port, seconds: 60, log: std::fs::read_to_string(&log).unwrap_or_default() }
            }
            other => other,
        })?;
        let cluster = Cluster { port, data_dir, socket_dir, bin };
        cluster.wait_ready(Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn wait_ready(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(Error::StartTimeout { port: self.port, seconds: limit.as_secs(), log: String::new() });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Path of a server-side tool such as `pg_dump` or `pgbench`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.tool(name)
    }

    /// Stops the cluster now (immediate mode) and removes its files.
    pub fn stop(&self) -> Result<()> {
        run(as_postgres(Command::new(self.bin.tool("pg_ctl")).args(["stop", "-m", "fast", "-D"]).arg(&self.data_dir)))
    }

    /// `pg_ctl restart -m MODE` (`smart`, `fast` or `immediate`): every
    /// connection is closed; waits until it accepts connections again.
    pub fn restart_mode(&self, mode: &str) -> Result<()> {
        let log = self.data_dir.parent().map(|p| p.join("postgres.log")).unwrap_or_default();
        run(as_postgres(
            Command::new(self.bin.tool("pg_ctl"))
                .args(["restart", "-w", "-t", "60", "-m", mode, "-D"])
                .arg(&self.data_dir)
                .arg("-l")
                .arg(log),
        ))?;
        self.wait_ready(Duration::from_secs(30))
    }

    /// Starts it again after [`Cluster::stop`] (same port and data).
    pub fn restart(&self) -> Result<()> {
        let log = self.data_dir.parent().map(|p| p.join("postgres.log")).unwrap_or_default();
        run(as_postgres(
            Command::new(self.bin.tool("pg_ctl"))
                .arg("start")
                .arg("-w")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(log),
        ))?;
        self.wait_ready(Duration::from_secs(30))
    }
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    writeln!(f, "\n{text}")?;
    Ok(())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
