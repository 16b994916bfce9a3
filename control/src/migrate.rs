//! Versioned SQL migrations: `migrations/NNNN_name.sql`, embedded at build
//! time, applied in order, each in its own transaction, and recorded with a
//! SHA-256 checksum in `switchyard.schema_migrations`
//! ([`crate::store::schema_migrations`]).
//!
//! Why not refinery: its history table cannot live in a schema the migrations
//! themselves create, it has no dry run, and we want the checksum and the
//! refusal message ("migration 0002_x was changed after it was applied") to be
//! ours. The whole runner is this file.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::store::schema_migrations;

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Serialises concurrent `migrate` runs against one database.
const ADVISORY_LOCK_KEY: i64 = 0x5357_4d49_4752; // "SWMIGR"

/// `(migration, checksum)`: the checksum an applied migration was recorded
/// with before a correction of its comments only, still accepted so that
/// databases migrated before the correction do not refuse to migrate.
const COMMENT_CORRECTIONS: &[(&str, &str)] = &[
    // 0010's header described the depth rule 0013 replaced.
    ("0010_mirror_functions", "b632495574e6dfbbb13ac1c02c5bad2d5430197215c5b2c027b2893ac894567f"),
    // 0013's header pointed at an issue number instead of saying why.
    ("0013_depth_from_legacy", "c357fd1bab489290df52206b59cd732948ab6ea856c28ca8c90bbadaceb696f2"),
    // Headers that pointed at design notes outside the repository.
    ("0001_control_schema", "8d151fb1216e56390963540fa91f2cefac07e6919d5749e1671738636dbd7118"),
    ("0002_partitioned_tables", "2c6b825f0eceb7e5332c249b8e9731565d3febad20f8371846d2ad5da1d335c4"),
    ("0004_maintenance", "d0f218b4be8d84004dcbfdf70f72c14b31cb81fec11c1af41bd39c303edd6015"),
    ("0010_mirror_functions", "fdb3d90d916c4c50456d639d65d01262d47a1da9c2aaa25279c3d650412003ed"),
    ("0011_shadow_settings", "a01422c8753301926381f947f061ddfe24f8e604517df579c1e6bed68787c5d4"),
];

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The file stem, e.g. `0002_partitioned_tables`; also its identity.
    pub name: String,
    pub sql: String,
    /// Hex SHA-256 of the SQL text.
    pub checksum: String,
}

impl Migration {
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Migration {
        let sql = sql.into();
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        Migration { name: name.into(), sql, checksum }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {name} was changed after it was applied (recorded checksum {recorded}, file now {current}); restore the file or write a new migration")]
    Tampered { name: String, recorded: String, current: String },
    #[error("the database has applied migration {name}, which this switchyard does not know (is it older than the one that migrated?)")]
    Unknown { name: String },
    #[error("migration {name} failed: {detail}")]
    Failed { name: String, detail: String },
    #[error("postgres: {}", switchyard_pgconn::describe_pg_error(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// What a run applied, or would apply with `dry_run`.
#[derive(Debug, Default)]
pub struct Report {
    pub applied: Vec<(String, Duration)>,
    pub already_applied: usize,
}

/// Applies migrations to one database.
#[derive(Debug, Clone)]
pub struct Migrator {
    migrations: Vec<Migration>,
}

impl Migrator {
    /// The migrations shipped in this binary.
    pub fn embedded() -> Migrator {
        Migrator::new(EMBEDDED.iter().map(|(name, sql)| Migration::new(*name, *sql)).collect())
    }

    pub fn new(mut migrations: Vec<Migration>) -> Migrator {
        migrations.sort_by(|a, b| a.name.cmp(&b.name));
        Migrator { migrations }
    }

    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// Applies what is pending (or only lists it when `dry_run`), after
    /// checking that nothing applied has changed. Holds an advisory lock so two
    /// runs cannot interleave.
    pub async fn run(&self, client: &mut Client, dry_run: bool) -> Result<Report, MigrateError> {
        client.execute("SELECT pg_advisory_lock($1)", &[&ADVISORY_LOCK_KEY]).await?;
        let result = self.run_locked(client, dry_run).await;
        let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&ADVISORY_LOCK_KEY]).await;
        let report = result?;
        unlock?;
        Ok(report)
    }

    async fn run_locked(&self, client: &mut Client, dry_run: bool) -> Result<Report, MigrateError> {
        let applied = schema_migrations::applied(&*client).await?;
        let mut report = Report::default();
        for (name, recorded) in &applied {
            match self.migrations.iter().find(|m| &m.name == name) {
                None => return Err(MigrateError::Unknown { name: name.clone() }),
                Some(m)
                    if &m.checksum != recorded
                        && !COMMENT_CORRECTIONS.contains(&(name.as_str(), recorded.as_str())) =>
                {
                    return Err(MigrateError::Tampered {
                        name: name.clone(),
                        recorded: recorded.clone(),
                        current: m.checksum.clone(),
                    })
                }
                Some(_) => report.already_applied += 1,
            }
        }
        for m in self.migrations.iter().filter(|m| !applied.iter().any(|(n, _)| n == &m.name)) {
            if dry_run {
                report.applied.push((m.name.clone(), Duration::ZERO));
                continue;
            }
            let started = Instant::now();
            let tx = client.transaction().await?;
            tx.batch_execute(&m.sql).await.map_err(|e| MigrateError::Failed {
                name: m.name.clone(),
                detail: switchyard_pgconn::describe_pg_error(&e),
            })?;
            let elapsed = started.elapsed();
            schema_migrations::record(&tx, &m.name, &m.checksum, elapsed).await?;
            tx.commit().await?;
            tracing::info!(migration = %m.name, ms = elapsed.as_millis() as u64, "applied");
            report.applied.push((m.name.clone(), elapsed));
        }
        Ok(report)
    }
}
