//! Every side connection speaks TLS as its URL, the `--sslmode` flags or the
//! proxy's upstream settings say. Against a server whose pg_hba.conf admits
//! only `hostssl`, the proxy's watcher, control plane and shadow reads, the
//! backfill, verify, maintain and `phase set` all work with
//! `sslmode=require` and with `verify-full` against the test CA; plain
//! connections are refused, and so is a certificate from another CA.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use switchyard_localpg::{Cluster, ClusterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connect_when_listening;
use crate::support::{self, ChildGuard};

/// A throwaway server that accepts TLS only, and the CA that signed it.
struct TlsServer {
    cluster: Cluster,
    ca: PathBuf,
    other_ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn url(&self, db: &str, params: &str) -> String {
        format!("postgres://postgres@localhost:{}/{db}?{params}", self.cluster.port)
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A CA, a server certificate for localhost it signed, and an unrelated CA.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let ca_params = |name: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p
    };
    let ca =
        CertifiedIssuer::self_signed(ca_params("switchyard test CA"), KeyPair::generate().expect("key")).expect("CA");
    let other =
        CertifiedIssuer::self_signed(ca_params("some other CA"), KeyPair::generate().expect("key")).expect("other CA");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server cert");
    let paths = ["ca.pem", "other-ca.pem", "server.crt", "server.key"].map(|n| dir.join(n));
    write(&paths[0], &ca.pem(), 0o644);
    write(&paths[1], &other.pem(), 0o644);
    write(&paths[2], &cert.pem(), 0o644);
    write(&paths[3], &key.serialize_pem(), 0o600);
    let [ca, other, cert, key] = paths;
    (ca, other, cert, key)
}

/// The uid and gid PostgreSQL runs as: `postgres` when we are root.
fn server_owner() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let o = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?))
}

async fn tls_server() -> TlsServer {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let (ca, other_ca, cert, key) = certificates(dir.path());
    if let Some((uid, gid)) = server_owner() {
        for p in [&cert, &key] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
        }
    }
    let mut opts = ClusterOptions::default();
    opts.extra_conf.extend([
        "ssl = on".to_owned(),
        format!("ssl_cert_file = '{}'", cert.display()),
        format!("ssl_key_file = '{}'", key.display()),
    ]);
    // Ahead of the catch-all trust lines: TCP without TLS is turned away.
    opts.hba_lines.insert(0, "hostnossl all all all reject".to_owned());
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&opts).expect("TLS-only cluster"))
        .await
        .expect("start task");
    TlsServer { cluster, ca, other_ca, _dir: dir }
}

/// Runs the CLI off the runtime.
async fn cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(support::switchyard_bin()).args(&args).env("RUST_LOG", "warn").output().expect("run switchyard")
    })
    .await
    .expect("cli task")
}

async fn succeeds(args: &[&str]) -> String {
    let out = cli(args).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "switchyard {args:?}: {}\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

async fn fails(args: &[&str]) -> String {
    let out = cli(args).await;
    assert!(!out.status.success(), "switchyard {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of one /metrics sample.
async fn metric(port: u16, series: &str) -> i64 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to /metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).await.expect("response");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// The migration's side of the walk through one database over TLS: `url`
/// for the CLI, `upstream` for `serve` (with its extra flags).
async fn walk(server: &TlsServer, db: &str, url: &str, upstream: &[&str]) {
    let admin = switchyard_pgconn::connect(&server.url("postgres", "sslmode=require")).await.expect("admin over TLS");
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await.expect("create database");
    let direct = switchyard_pgconn::connect(&server.url(db, "sslmode=require")).await.expect("direct over TLS");
    succeeds(&["seed-legacy", "--database-url", url, "--users", "3", "--todos-per-user", "4"]).await;
    succeeds(&["migrate", "--database-url", url]).await;
    succeeds(&["phase", "set", "dual_write", "--reason", "tls", "--database-url", url]).await;

    let (port, metrics) = (free_port(), free_port());
    let (listen, metrics_listen) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{metrics}"));
    let mut args = vec!["serve", "--listen", &listen, "--metrics-listen", &metrics_listen];
    args.extend_from_slice(&[
        "--shadow-sample-rate",
        "dual_write=1",
        "--phase-wait",
        "30",
        "--phase-poll-interval",
        "0.2",
    ]);
    args.extend_from_slice(upstream);
    let _proxy = ChildGuard::new(
        Command::new(support::switchyard_bin())
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn switchyard serve"),
    );
    let app = connect_when_listening(&format!("postgres://postgres@127.0.0.1:{port}/{db}")).await;
    // The watcher read the phase over TLS: the write is mirrored.
    let user: uuid::Uuid = direct.query_one("SELECT id FROM users LIMIT 1", &[]).await.expect("a user").get(0);
    let id: uuid::Uuid = app
        .query_one("INSERT INTO todos (user_id, title) VALUES ($1, 'over tls') RETURNING id", &[&user])
        .await
        .expect("insert through the proxy")
        .get(0);
    let mirrored: bool =
        direct.query_one("SELECT EXISTS (SELECT 1 FROM todos_active WHERE id = $1)", &[&id]).await.expect("q").get(0);
    assert!(mirrored, "{db}: the write is mirrored");

    succeeds(&["backfill", "--database-url", url]).await;
    succeeds(&["verify", "--database-url", url]).await;
    // Shadow reads run on their own side connections, compared once backfilled.
    let matched = "switchyard_shadow_reads_total{outcome=\"match\"}";
    for _ in 0..300 {
        app.query("SELECT id FROM todos WHERE user_id = $1", &[&user]).await.expect("read through the proxy");
        if metric(metrics, matched).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(metrics, matched).await > 0, "{db}: shadow reads compared");
    assert_eq!(metric(metrics, "switchyard_shadow_reads_total{outcome=\"error\"}").await, 0, "{db}");
    succeeds(&["maintain", "daily", "--database-url", url]).await;
    succeeds(&["phase", "set", "read_new", "--reason", "tls", "--database-url", url]).await;
}

#[tokio::test]
async fn against_a_tls_only_server_every_side_connection_works_with_require_and_verify_full() {
    let server = tls_server().await;
    let ca = server.ca.display().to_string();

    // require, given as flags: --upstream-sslmode for serve, --sslmode for the CLI.
    let plain_url = format!("postgres://postgres@localhost:{}/by_flags", server.cluster.port);
    let flagged = format!("{plain_url}?sslmode=require");
    walk(&server, "by_flags", &flagged, &["--upstream", &plain_url, "--upstream-sslmode", "require"]).await;
    succeeds(&["phase", "show", "--database-url", &plain_url, "--sslmode", "require"]).await;

    // verify-full against the CA, in the URL for every command and serve.
    let verified = server.url("by_url", &format!("sslmode=verify-full&sslrootcert={ca}"));
    walk(&server, "by_url", &verified, &["--upstream", &verified]).await;
    let with_ca_flag = ["--sslmode", "verify-full", "--sslrootcert", ca.as_str()];
    let shown = succeeds(&[&["phase", "show", "--database-url", &plain_url][..], &with_ca_flag[..]].concat()).await;
    assert!(shown.contains("dual_write") || shown.contains("read_new"), "{shown}");

    // verify-ca checks the chain only: the certificate names localhost, not 127.0.0.1.
    let by_ip = |mode: &str| {
        format!("postgres://postgres@127.0.0.1:{}/by_url?sslmode={mode}&sslrootcert={ca}", server.cluster.port)
    };
    succeeds(&["phase", "show", "--database-url", &by_ip("verify-ca")]).await;
    let err = fails(&["phase", "show", "--database-url", &by_ip("verify-full")]).await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // Plain TCP is refused by the server; another CA's roots refuse the server.
    let err = fails(&["phase", "show", "--database-url", &server.url("by_url", "sslmode=disable")]).await;
    assert!(err.contains("pg_hba.conf") || err.contains("no encryption"), "{err}");
    let other = server.url("by_url", &format!("sslmode=verify-full&sslrootcert={}", server.other_ca.display()));
    let err = fails(&["phase", "show", "--database-url", &other]).await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let stopped = tokio::task::spawn_blocking(move || server.cluster.stop()).await.expect("stop task");
    stopped.expect("stop the cluster");
}
