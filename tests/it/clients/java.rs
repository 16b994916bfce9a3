//! pgjdbc (Debian's libpostgresql-jdbc-java), compiled with javac once per
//! run of this test binary: statements reused past prepareThreshold (named
//! server-side statements), executeUpdate counts, batches with
//! reWriteBatchedInserts off and on, getGeneratedKeys, setFetchSize cursors
//! in a transaction, ResultSetMetaData (which pgjdbc completes from the
//! catalog by table OID), errors with every field. The program is
//! tests/java/TodoSuite.java with its steps in tests/java/Steps.java.

use std::path::{Path, PathBuf};

use super::walk::{manifest_dir, walk, Target};

/// pgjdbc's jar: `SWITCHYARD_TEST_PGJDBC`, or where Debian's package puts it.
fn pgjdbc() -> PathBuf {
    let jar = std::env::var_os("SWITCHYARD_TEST_PGJDBC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    assert!(jar.is_file(), "pgjdbc not found at {}: run scripts/ensure-java.sh", jar.display());
    jar
}

/// Compiles tests/java/*.java into a directory of this build's and returns it.
fn compile(jar: &Path) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("java-clients");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("class directory");
    let sources: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("tests/java"))
        .expect("tests/java")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    let javac = std::process::Command::new("javac")
        .arg("-d")
        .arg(&out)
        .arg("-cp")
        .arg(jar)
        .args(&sources)
        .output()
        .unwrap_or_else(|e| panic!("cannot run javac: {e}\nrun scripts/ensure-java.sh"));
    assert!(javac.status.success(), "javac failed:\n{}", String::from_utf8_lossy(&javac.stderr));
    out
}

#[tokio::test]
async fn pgjdbc_sees_what_a_direct_twin_sees_in_every_phase() {
    let jar = pgjdbc();
    let classes = compile(&jar);
    let classpath = format!("{}:{}", classes.display(), jar.display());
    let launch = |target: &Target, phase: &str| {
        let mut command = tokio::process::Command::new("java");
        // A short-lived program: the client VM's quick start over peak speed.
        command
            .args(["-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", &classpath, "TodoSuite"])
            .arg(target.port.to_string())
            .arg(&target.database)
            .arg(phase);
        command
    };
    walk("pgjdbc", &launch).await;
}
