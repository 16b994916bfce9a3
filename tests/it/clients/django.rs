//! The Django ORM (psycopg 3 backend) on the existing todos table through
//! `managed = False` models, with client-side and with server-side binding
//! (the backend's server_side_binding option): create and bulk_create,
//! Paginator, filters, update(), save() and save(update_fields),
//! update_or_create() and get_or_create(), select_for_update() with
//! skip_locked, nowait, no_key and of, iterator() (server-side cursors,
//! WITH HOLD outside a transaction), bulk_update(), Django's own cascading
//! deletes, atomic() with savepoints, errors with every field. The program
//! is tests/python/django_suite.py with its models in django_models.py.

use std::path::PathBuf;

use super::walk::{manifest_dir, walk, Target};

/// The interpreter with Django and psycopg 3: `SWITCHYARD_TEST_PYTHON`, or
/// the virtualenv scripts/ensure-python-drivers.sh creates.
fn python() -> PathBuf {
    let python = std::env::var_os("SWITCHYARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv-tests/bin/python"));
    let probe = std::process::Command::new(&python)
        .args(["-c", "import django, psycopg"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}\nrun scripts/ensure-python-drivers.sh", python.display()));
    assert!(
        probe.status.success(),
        "Django or psycopg does not import with {}:\n{}\nrun scripts/ensure-python-drivers.sh",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

#[tokio::test]
async fn django_orm_with_client_and_server_side_binding_sees_what_a_direct_twin_sees_in_every_phase() {
    let python = python();
    let launch = |target: &Target, phase: &str| {
        let mut command = tokio::process::Command::new(&python);
        command
            .arg(manifest_dir().join("tests/python/django_suite.py"))
            .arg(target.port.to_string())
            .arg(&target.database)
            .arg(phase)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        command
    };
    walk("django", &launch).await;
}
