//! A PostgreSQL server for tests: a throwaway [`Cluster`] or the one named by
//! `SWITCHYARD_TEST_DATABASE_URL`, handing out one fresh database per test.

use std::collections::HashMap;
use std::sync::OnceLock;

use tokio_postgres::NoTls;

use crate::cluster::{Cluster, ClusterOptions};
use crate::{Error, Result};

/// Password roles the test cluster's `pg_hba.conf` authenticates by password:
/// `(role, password, password_encryption)`.
pub const TEST_ROLES: &[(&str, &str, &str)] = &[
    ("sy_scram", "scram-secret", "scram-sha-256"),
    ("sy_md5", "md5-secret", "md5"),
    ("sy_password", "plain-secret", "scram-sha-256"),
];

/// A server tests can create databases on.
#[derive(Debug)]
pub struct Server {
    /// Superuser URL of the maintenance database.
    admin_url: String,
    /// Present when we started the server ourselves.
    pub cluster: Option<Cluster>,
}

static SHARED: OnceLock<std::result::Result<Server, String>> = OnceLock::new();

/// The server shared by every test of this process. Panics with a message
/// saying what is missing when no PostgreSQL can be had: a test that needs
/// PostgreSQL must fail loudly, never skip.
pub fn shared() -> &'static Server {
    let server = SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("SWITCHYARD_TEST_DATABASE_URL") {
            return Ok(Server { admin_url: url, cluster: None });
        }
        Cluster::start(&ClusterOptions::default())
            .map(|c| Server { admin_url: c.url("postgres"), cluster: Some(c) })
            .map_err(|e| e.to_string())
    });
    match server {
        Ok(s) => s,
        Err(e) => panic!("this test needs PostgreSQL and could not start it: {e}"),
    }
}

impl Server {
    pub fn from_cluster(cluster: Cluster) -> Server {
        Server { admin_url: cluster.url("postgres"), cluster: Some(cluster) }
    }

    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The server's URL with the database name replaced by `db`.
    pub fn url(&self, db: &str) -> String {
        with_database(&self.admin_url, db)
    }

    /// A superuser connection to `db`, its connection task spawned.
    pub async fn connect(&self, db: &str) -> Result<tokio_postgres::Client> {
        let (client, conn) = tokio_postgres::connect(&self.url(db), NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Creates a new, uniquely named database whose contents are what
    /// `init_sql` creates, and returns its name. The SQL runs once per process
    /// into a template that each call then clones, which is much faster.
    pub async fn create_database(&self, init_sql: &str) -> Result<String> {
        let sql = init_sql.to_string();
        self.create_database_with(&format!("{:x}", fnv(init_sql)), async move |client: &mut tokio_postgres::Client| {
            client.batch_execute(&sql).await.map_err(|e| switchyard_pgconn::describe_pg_error(&e))
        })
        .await
    }

    /// Like [`Server::create_database`], with the template filled by `init`
    /// (run once per process for each `key`, which must identify what `init`
    /// does).
    pub async fn create_database_with<F>(&self, key: &str, init: F) -> Result<String>
    where
        F: AsyncFnOnce(&mut tokio_postgres::Client) -> std::result::Result<(), String>,
    {
        static TEMPLATES: tokio::sync::Mutex<Option<HashMap<String, String>>> = tokio::sync::Mutex::const_new(None);
        let template = {
            let mut guard = TEMPLATES.lock().await;
            let map = guard.get_or_insert_with(HashMap::new);
            match map.get(key) {
                Some(t) => t.clone(),
                None => {
                    if map.is_empty() {
                        self.ensure_test_roles().await?;
                    }
                    let name = format!("sy_tpl_{}_{}", std::process::id(), map.len());
                    let admin = self.connect("postgres").await?;
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await?;
                    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
                    let mut db = self.connect(&name).await?;
                    init(&mut db)
                        .await
                        .map_err(|detail| Error::Command { command: format!("filling template {key}"), detail })?;
                    drop(db);
                    map.insert(key.to_string(), name.clone());
                    name
                }
            }
        };
        let name = format!("sy_test_{}_{}", std::process::id(), next());
        let admin = self.connect("postgres").await?;
        // A template must have no other sessions; the one that filled it has
        // closed, but its backend may take a moment to exit.
        let mut attempt = 0;
        loop {
            match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await {
                Ok(()) => return Ok(name),
                Err(e) if attempt < 50 && switchyard_pgconn::describe_pg_error(&e).contains("being accessed") => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(Error::Postgres(e)),
            }
        }
    }

    async fn ensure_test_roles(&self) -> Result<()> {
        let admin = self.connect("postgres").await?;
        for (role, password, encryption) in TEST_ROLES {
            let sql = format!(
                "DO $$ BEGIN
                   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} LOGIN SUPERUSER;
                   END IF;
                 END $$;
                 SET password_encryption = '{encryption}';
                 ALTER ROLE {role} PASSWORD '{password}';"
            );
            admin.batch_execute(&sql).await?;
        }
        Ok(())
    }
}

/// Replaces the database of a `postgres://` URL (or a key=value string).
fn with_database(url: &str, db: &str) -> String {
    if !url.contains("://") {
        let kept: Vec<&str> = url.split_whitespace().filter(|kv| !kv.starts_with("dbname=")).collect();
        return format!("{} dbname={db}", kept.join(" "));
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

fn next() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_database_in_urls() {
        assert_eq!(with_database("postgres://u@h:5/a", "b"), "postgres://u@h:5/b");
        assert_eq!(with_database("postgres://u@h:5", "b"), "postgres://u@h:5/b");
        assert_eq!(with_database("postgres://u@h/a?sslmode=disable", "b"), "postgres://u@h/b?sslmode=disable");
        assert_eq!(with_database("host=h dbname=a user=u", "b"), "host=h user=u dbname=b");
    }
}
