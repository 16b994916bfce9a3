//! The fault-injection soak in its small configuration (docs/soak.md):
//! `switchyard soak` with 16 clients on two proxy instances walks the
//! phases through upstream restarts, proxy kills, a killed backfill and a
//! flip under open transactions, and no acknowledged write may be lost or
//! left different between the schemas.

use std::process::Command;

use crate::support;

/// The numbers of the soak's last line,
/// `soak: N ops, F faults, lost=L divergent=D errors=E`.
fn parse_last_line(stdout: &str) -> Option<(u64, u64, u64, u64, u64)> {
    let line = stdout.lines().rev().find(|l| l.starts_with("soak: "))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [ops, faults, lost, divergent, errors] => Some((*ops, *faults, *lost, *divergent, *errors)),
        _ => None,
    }
}

#[test]
fn the_small_soak_loses_no_acknowledged_write_under_faults_and_keeps_both_schemas_equal() {
    let out = Command::new(support::switchyard_bin())
        .args(["soak", "--users", "48", "--todos-per-user", "15", "--clients", "16", "--step-seconds", "3"])
        .output()
        .expect("run switchyard soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let (ops, faults, lost, divergent, _errors) =
        parse_last_line(&stdout).unwrap_or_else(|| panic!("no summary line:\n{report}"));
    assert!(faults >= 8, "the faults did not all happen:\n{report}");
    assert!(ops > 1000, "the clients hardly worked:\n{report}");
    assert_eq!((lost, divergent), (0, 0), "{report}");
    assert!(out.status.success(), "{report}");
}
