use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use switchyard_localpg::{Cluster, ClusterOptions};
use switchyard_proxy::{SslMode, Upstream};

use super::common::{config_for, connect, describe, sqlstate, start_with, try_connect};

/// The uid and gid PostgreSQL runs as: `postgres` when we are root.
fn server_owner() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

#[tokio::test]
async fn the_upstream_connection_uses_tls_per_sslmode() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    if let Some((uid, gid)) = server_owner() {
        for p in [&cert_path, &key_path] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
        }
    }
    let opts = ClusterOptions {
        extra_conf: vec![
            "ssl = on".into(),
            format!("ssl_cert_file = '{}'", cert_path.display()),
            format!("ssl_key_file = '{}'", key_path.display()),
        ],
        ..ClusterOptions::default()
    };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(&opts).expect("TLS cluster")).await.expect("task");
    let upstream = |mode: SslMode, ca: Option<&std::path::Path>| Upstream {
        host: "localhost".into(),
        port: cluster.port,
        sslmode: mode,
        ca_file: ca.map(|p| p.to_path_buf()),
    };
    let uses_tls = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    for (mode, expect_tls) in [(SslMode::Disable, false), (SslMode::Prefer, true), (SslMode::Require, true)] {
        let proxy = start_with(config_for(upstream(mode, None))).await;
        let client = connect(&proxy.url("postgres")).await;
        let tls: bool = client.query_one(uses_tls, &[]).await.expect("pg_stat_ssl").get(0);
        assert_eq!(tls, expect_tls, "{mode:?}");
    }
    let proxy = start_with(config_for(upstream(SslMode::VerifyFull, Some(&cert_path)))).await;
    let client = connect(&proxy.url("postgres")).await;
    assert!(client.query_one(uses_tls, &[]).await.expect("pg_stat_ssl").get::<_, bool>(0), "verify-full");

    // A certificate not signed by the configured roots is refused.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("other cert");
    let other_path = dir.path().join("other.crt");
    std::fs::write(&other_path, other.cert.pem()).expect("other");
    let proxy = start_with(config_for(upstream(SslMode::VerifyFull, Some(&other_path)))).await;
    let err = try_connect(&proxy.url("postgres")).await.expect_err("untrusted upstream certificate");
    assert_eq!(sqlstate(&err).as_deref(), Some("08001"), "{}", describe(&err));
    drop(client);
    tokio::task::spawn_blocking(move || cluster.stop()).await.expect("stop task").ok();
}
