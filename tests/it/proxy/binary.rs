use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::common::{assert_alive, connect, describe, shared_upstream, sqlstate, try_connect};
use nix::sys::signal::Signal as Sig;

use crate::support::{self, ChildGuard};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn wait_listening(port: u16, child: &mut ChildGuard) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        assert!(child.child().try_wait().expect("wait").is_none(), "switchyard serve exited early");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("switchyard serve did not listen on {port}");
}

#[tokio::test]
async fn serve_reads_its_file_reloads_on_sighup_and_drains_on_sigterm() {
    let db = support::empty_db().await;
    let up = shared_upstream();
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("switchyard.toml");
    let write_config = |max: usize| {
        let text = format!(
            "listen = \"127.0.0.1:{port}\"\nupstream = \"postgres://{}:{}/x\"\nmax_client_connections = {max}\ndrain_timeout = 1\nlog_level = \"switchyard_proxy=debug,info\"\n",
            up.host, up.port
        );
        std::fs::write(&file, text).expect("write config");
    };
    write_config(1);
    let mut child = ChildGuard::new(
        Command::new(support::switchyard_bin())
            .args(["serve", "--config"])
            .arg(&file)
            .args(["--log-format", "json", "--upstream-sslmode", "disable"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchyard serve"),
    );
    wait_listening(port, &mut child).await;
    let url = format!("postgres://postgres@127.0.0.1:{port}/{}", db.name);
    let first = connect(&url).await;
    let err = try_connect(&url).await.expect_err("over the file's limit");
    assert_eq!(sqlstate(&err).as_deref(), Some("53300"), "{}", describe(&err));

    write_config(2);
    child.signal(Sig::SIGHUP);
    let mut second = None;
    for _ in 0..100 {
        if let Ok(c) = try_connect(&url).await {
            second = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = second.expect("SIGHUP raised the limit");
    assert_alive(&first).await;
    assert_alive(&second).await;

    let stderr = child.child().stderr.take();
    let status = tokio::task::spawn_blocking(move || (child.terminate(), stderr)).await.expect("wait task");
    assert!(status.0.success(), "it exited by itself after the drain timeout, not killed: {:?}", status.0);
    assert!(first.simple_query("SELECT 1").await.is_err(), "sessions are closed after the drain");

    let lines: Vec<String> = BufReader::new(status.1.expect("stderr")).lines().map_while(Result::ok).collect();
    let session_lines: Vec<&String> = lines.iter().filter(|l| l.contains("\"name\":\"conn\"")).collect();
    assert!(!session_lines.is_empty(), "JSON lines carry the conn span:\n{}", lines.join("\n"));
    for l in &session_lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON log line");
        assert!(v["span"]["id"].as_u64().is_some(), "connection id on {l}");
    }
}
