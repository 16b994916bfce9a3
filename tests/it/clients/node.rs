//! node-postgres (pg with pg-cursor): parameterized and named statements,
//! the simple protocol, rowCount and command tags, RETURNING, transactions
//! and savepoints, cursors (pg-cursor portals and SQL DECLARE/FETCH), field
//! metadata (table OID, column number, type), errors with every field.
//! The program is tests/node/todo_suite.js.

use super::walk::{manifest_dir, walk, Target};

fn node() -> std::path::PathBuf {
    let dir = manifest_dir().join("tests/node");
    let probe = std::process::Command::new("node")
        .args(["-e", "require('pg'); require('pg-cursor')"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}\nrun scripts/ensure-node.sh"));
    assert!(
        probe.status.success(),
        "pg and pg-cursor do not load from {}:\n{}\nrun scripts/ensure-node.sh",
        dir.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    dir
}

#[tokio::test]
async fn node_postgres_sees_what_a_direct_twin_sees_in_every_phase() {
    let dir = node();
    let launch = |target: &Target, phase: &str| {
        let mut command = tokio::process::Command::new("node");
        command.arg("todo_suite.js").arg(target.port.to_string()).arg(&target.database).arg(phase).current_dir(&dir);
        command
    };
    walk("node-postgres", &launch).await;
}
