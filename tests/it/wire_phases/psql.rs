//! A sequence of write forms by psql (from PATH) over the simple protocol:
//! one session through the proxy and one on the twin, the output of each
//! form compared (rows, command tags, SQLSTATE and row count), and the
//! schemas after the session.

use std::process::Command;

use switchyard_rewriter::Phase;

use super::common::*;
use crate::support::assert_same_as_legacy;
use crate::support::write_forms::{Deviation, Sequence, WriteForm};

/// The port in a `postgres://user@host:port/db` URL.
fn port_of(url: &str) -> String {
    let authority = url.split('@').nth(1).and_then(|r| r.split('/').next()).unwrap_or("");
    authority.rsplit(':').next().unwrap_or("5432").to_string()
}

/// psql (from PATH) running a script in one session, stderr kept apart.
fn psql_script(port: &str, db: &str, script: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-v",
            "VERBOSITY=sqlstate",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            db,
            "-f",
            "-",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run psql (it must be on PATH)");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write the script");
    let out = child.wait_with_output().expect("psql");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The forms as one psql script: each between markers, followed by the
/// SQLSTATE and row count psql recorded for it.
fn script(forms: &[(usize, &WriteForm)]) -> String {
    let mut s = String::new();
    for (k, f) in forms {
        s.push_str(&format!("\\echo '#form {k}'\n{}\n;\n\\echo '#end' :SQLSTATE :ROW_COUNT\n", f.literal_sql()));
    }
    s
}

/// psql's output per form: its lines (normalised, sorted; the table, the
/// command tag, `#end SQLSTATE ROW_COUNT`).
fn segments(stdout: &str) -> std::collections::BTreeMap<usize, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in stdout.lines() {
        if let Some(k) = line.strip_prefix("#form ").and_then(|k| k.trim().parse().ok()) {
            if let Some((k, mut lines)) = current.take() {
                lines.sort();
                out.insert(k, lines);
            }
            current = Some((k, Vec::new()));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.split('|').map(norm_text).collect::<Vec<_>>().join("|"));
        }
    }
    if let Some((k, mut lines)) = current.take() {
        lines.sort();
        out.insert(k, lines);
    }
    out
}

/// Every form of `seq` by psql over the simple protocol, one session
/// through the proxy and one on the twin; the output of each form compared,
/// and the schemas after the session.
pub async fn psql_session(pair: &Pair, phase: Phase, seq: &Sequence) {
    let runs = |f: &WriteForm| f.deviation(phase) != Some(Deviation::Skip);
    let mine: Vec<(usize, &WriteForm)> = seq.forms.iter().enumerate().filter(|(_, f)| runs(f)).collect();
    let theirs: Vec<(usize, &WriteForm)> =
        seq.forms.iter().enumerate().filter(|(_, f)| f.deviation(phase).is_none()).collect();
    let (proxy_port, twin_port) = (pair.proxy.port.to_string(), port_of(&pair.twin.url));
    let (db, twin) = (pair.db.name.clone(), pair.twin.name.clone());
    let (s_mine, s_theirs) = (script(&mine), script(&theirs));
    let mine_out = tokio::task::spawn_blocking(move || psql_script(&proxy_port, &db, &s_mine));
    let theirs_out = tokio::task::spawn_blocking(move || psql_script(&twin_port, &twin, &s_theirs));
    let ((code, stdout, stderr), (twin_code, twin_stdout, _)) =
        (mine_out.await.expect("psql"), theirs_out.await.expect("psql"));
    assert_eq!((code, twin_code), (0, 0), "psql sessions: {stderr}");
    let (got, want) = (segments(&stdout), segments(&twin_stdout));
    for (k, f) in &mine {
        let at = format!("{phase}, psql, {}: {}", seq.name, f.name);
        let seg = got.get(k).unwrap_or_else(|| panic!("{at}: no output\n{stdout}\n{stderr}"));
        let end = seg.iter().find(|l| l.starts_with("#end")).unwrap_or_else(|| panic!("{at}: {seg:?}"));
        match f.deviation(phase) {
            None => assert_same_as_legacy(&want.get(k), &Some(seg), format_args!("{at}: what psql shows")),
            Some(Deviation::Refused) => assert!(end.starts_with("#end 0A000 "), "{at}: expected a refusal: {seg:?}"),
            Some(Deviation::Skip) => {}
        }
    }
    // The comparison covers psql's command tags and errors: some form
    // inserted rows, some failed.
    let lines: Vec<&String> = got.values().flatten().collect();
    assert!(lines.iter().any(|l| l.starts_with("INSERT 0 ")), "{phase}, psql, {}: no INSERT tag\n{stdout}", seq.name);
    let failed = |l: &&String| l.starts_with("#end ") && !l.starts_with("#end 00000 ") && !l.starts_with("#end 0A000 ");
    assert!(lines.iter().any(failed), "{phase}, psql, {}: no form failed\n{stdout}", seq.name);
    let refusals = stderr.matches("0A000").count();
    let expected = mine.iter().filter(|(_, f)| f.deviation(phase) == Some(Deviation::Refused)).count();
    assert_eq!(refusals, expected, "psql's stderr shows each refusal once: {stderr}");
    let at = format!("{phase}, after the psql session of {}", seq.name);
    assert_in_step(&pair.db, &pair.twin, phase != Phase::NewOnly, &at).await;
}
