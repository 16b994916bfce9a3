//! One client program through the whole migration, beside a direct twin.
//!
//! Two databases from the same migrated template (so legacy todos has the
//! same OID in both): the proxied one walks legacy -> dual_write -> (backfill,
//! archival, verify) -> read_new -> write_new -> new_only with the operator's
//! own commands, the twin stays a plain legacy database the client reaches
//! directly. In each phase the client program runs once against the twin
//! (what PostgreSQL says) and once through the proxy; every observation of
//! the two runs must be equal.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::known;
use super::transcript::Transcript;
use super::verdict::Verdict;
use crate::support;

pub const PHASES: [&str; 5] = ["legacy", "dual_write", "read_new", "write_new", "new_only"];

/// The app's users and project, the same in both databases (the app's own
/// ids start with 00000000; ids the server generates are told apart by that).
const SEED: &str = "
    INSERT INTO users (id, email, name) VALUES
      ('00000000-0000-0000-0000-0000000000a1', 'ada@example.com', 'Ada'),
      ('00000000-0000-0000-0000-0000000000b2', 'bob@example.com', 'Bob'),
      ('00000000-0000-0000-0000-0000000000c3', 'carol@example.com', 'Carol'),
      ('00000000-0000-0000-0000-0000000000d4', 'dan@example.com', 'Dan');
    INSERT INTO projects (id, user_id, name) VALUES
      ('00000000-0000-0000-0000-00000000c0de', '00000000-0000-0000-0000-0000000000a1', 'Launch'),
      ('00000000-0000-0000-0000-00000000d0c5', '00000000-0000-0000-0000-0000000000a1', 'Docs');";

/// How long one run of a client program may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a client program connects: host, port, database (user postgres).
pub struct Target {
    pub port: u16,
    pub database: String,
}

/// Builds the command that runs the client program for `phase` against `target`.
pub type Launcher<'a> = &'a dyn Fn(&Target, &str) -> tokio::process::Command;

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `launch` in every phase against the twin and through the proxy and
/// fails on any difference that known.rs does not name.
pub async fn walk(client: &str, launch: Launcher<'_>) {
    let (proxied, twin) = tokio::join!(support::migrated_db(), support::migrated_db());
    for db in [&proxied, &twin] {
        db.client.batch_execute(SEED).await.unwrap_or_else(|e| panic!("seed {}: {e}", db.name));
    }
    let proxy = support::spawn_proxy(&proxied).await;
    support::wait_for_instances(&proxied).await;
    let direct_target = Target { port: port_of(&twin.url), database: twin.name.clone() };
    let proxy_target = Target { port: proxy.port, database: proxied.name.clone() };
    let mut verdict = Verdict::new(client, known::DIFFERENCES);
    for phase in PHASES {
        enter(&proxied, phase).await;
        let expected = run(client, launch, &direct_target, phase, "direct").await;
        let got = run(client, launch, &proxy_target, phase, "proxy").await;
        verdict.compare(phase, &expected, &got);
        // Once backfilled, both schemas must hold the client's writes too (I1, I3).
        if phase == "read_new" || phase == "write_new" {
            let differ = support::schemas_differ(&proxied.client).await;
            verdict.require(phase, "schemas", "both_hold_the_writes", differ);
        }
    }
    verdict.finish();
}

fn port_of(url: &str) -> u16 {
    let after_host = url.rsplit_once(':').map(|(_, rest)| rest).unwrap_or_default();
    after_host.split('/').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
}

/// Moves the proxied database to `phase` the way the runbook does: before
/// read_new, the backfill, the daily maintenance (archiving the todos done
/// long ago) and a clean verify; new_only confirmed.
async fn enter(db: &support::TestDb, phase: &str) {
    match phase {
        "legacy" => {}
        "read_new" => {
            switchyard(db, &["backfill"]).await;
            switchyard(db, &["maintain", "daily"]).await;
            let archived: i64 =
                db.client.query_one("SELECT count(*) FROM todos_archived", &[]).await.expect("archived").get(0);
            assert!(archived > 0, "the daily maintenance archived the todos completed long ago");
            switchyard(db, &["verify"]).await;
            switchyard(db, &["phase", "set", phase, "--reason", "client suite"]).await;
        }
        "new_only" => switchyard(db, &["phase", "set", phase, "--reason", "client suite", "--confirm"]).await,
        _ => switchyard(db, &["phase", "set", phase, "--reason", "client suite"]).await,
    }
    support::wait_for_instances(db).await;
}

async fn switchyard(db: &support::TestDb, args: &[&str]) {
    let out = tokio::process::Command::new(support::switchyard_bin())
        .args(args)
        .env("SWITCHYARD_DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap_or_else(|e| panic!("switchyard {args:?}: {e}"));
    assert!(
        out.status.success(),
        "switchyard {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn run(client: &str, launch: Launcher<'_>, target: &Target, phase: &str, side: &str) -> Transcript {
    let context = format!("{client} {phase} ({side})");
    let mut command = launch(target, phase);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{context}: cannot run the client program: {e}"));
    let stdout = tokio::spawn(read_all(child.stdout.take().expect("stdout")));
    let stderr = tokio::spawn(read_all(child.stderr.take().expect("stderr")));
    let status = tokio::time::timeout(RUN_TIMEOUT, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let (stdout, stderr) = (stdout.await.expect("stdout reader"), stderr.await.expect("stderr reader"));
    match status {
        Err(_) => panic!(
            "{context}: the client program did not finish within {RUN_TIMEOUT:?}; it printed:\n{stdout}\n{stderr}"
        ),
        Ok(Err(e)) => panic!("{context}: waiting for the client program: {e}"),
        Ok(Ok(status)) => {
            assert!(status.success(), "{context}: the client program failed ({status}):\n{stdout}\n{stderr}")
        }
    }
    Transcript::parse(&stdout, &context)
}

async fn read_all(mut from: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut bytes = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut from, &mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}
