//! Handing the monthly `todos_archived` partitions to pg_partman
//! (`switchyard maintain … --partman`; docs/runbook.md, Step 3, has the switch-over).
//!
//! pg_partman manages time ranges, not hash partitions, so `todos_active`
//! and `ai_todo_interactions` stay ours. Adoption follows pg_partman's own
//! recipe for an existing partition set: rename the children to its naming
//! pattern (`todos_archived_pYYYY_MM`), then `create_parent`, which finds
//! those children and records the configuration, making only the months
//! still missing. All in one transaction, under a short `lock_timeout`:
//! renaming a partition locks it ACCESS EXCLUSIVE.
//!
//! Once adopted, `create_archive_partitions()` (migration 0014) runs
//! `partman.run_maintenance` for the set instead of creating partitions by
//! name, and the weekly drop of old partitions becomes pg_partman's retention
//! (still refused mid-migration unless forced, as `drop_old_archive_partitions`
//! does). Health checks find months by partition bounds, whatever the names.
//! Sessions run with `TimeZone = UTC`: our partitions are UTC months, and
//! pg_partman computes month boundaries in the session's time zone.

use std::time::Duration;

use tokio_postgres::Client;

use crate::error::ControlError;

const PARENT: &str = "public.todos_archived";

#[derive(Debug, thiserror::Error)]
pub enum PartmanError {
    #[error(
        "the pg_partman extension is not available on this server (install it, e.g. `apt-get install postgresql-15-partman`, \
         or run without --partman)"
    )]
    NotAvailable,
    #[error(
        "archive partition {name} does not cover one whole UTC month ({bounds}); pg_partman manages monthly ranges only"
    )]
    NotMonthly { name: String, bounds: String },
    #[error("pg_partman {0} is installed; --partman supports the 4.x series (its naming and create_parent)")]
    UnsupportedVersion(String),
    #[error("pg_partman does not manage todos_archived in this database (adopt it with `switchyard maintain daily --partman`)")]
    NotManaging,
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl From<tokio_postgres::Error> for PartmanError {
    fn from(e: tokio_postgres::Error) -> Self {
        PartmanError::Control(e.into())
    }
}

/// What adoption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// False when pg_partman already managed the table.
    pub adopted_now: bool,
    /// Children renamed to pg_partman's pattern.
    pub renamed: Vec<(String, String)>,
}

/// The schema of the pg_partman that manages `todos_archived`, if one does.
pub async fn managing_schema(client: &Client) -> Result<Option<String>, PartmanError> {
    Ok(client.query_one("SELECT switchyard.partman_schema_for_archive()", &[]).await?.get(0))
}

/// Installs pg_partman (schema `partman`) if needed and hands it the archive
/// partitions; `months_ahead` becomes its premake. Idempotent.
pub async fn adopt(client: &Client, months_ahead: i32) -> Result<Adoption, PartmanError> {
    let available: bool = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman')", &[])
        .await?
        .get(0);
    if !available {
        return Err(PartmanError::NotAvailable);
    }
    if managing_schema(client).await?.is_some() {
        return Ok(Adoption { adopted_now: false, renamed: Vec::new() });
    }
    client.batch_execute("BEGIN").await?;
    match adopt_in_transaction(client, months_ahead).await {
        Ok(renamed) => {
            client.batch_execute("COMMIT").await?;
            Ok(Adoption { adopted_now: true, renamed })
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn adopt_in_transaction(tx: &Client, months_ahead: i32) -> Result<Vec<(String, String)>, PartmanError> {
    let schema = install(tx).await?;
    let (renamed, oldest) = rename_children(tx).await?;
    let start = oldest.unwrap_or_else(chrono::Utc::now).format("%Y-%m-%d 00:00:00+00").to_string();
    create_parent(tx, &schema, months_ahead, &start).await?;
    // Keep making partitions ahead even in months that archive nothing.
    tx.execute(
        &format!("UPDATE {schema}.part_config SET infinite_time_partitions = true WHERE parent_table = $1"),
        &[&PARENT],
    )
    .await?;
    Ok(renamed)
}

/// Creates the extension (schema `partman`) unless it exists, in the
/// adopting transaction, and returns its schema, quoted; refuses a version
/// other than 4.x.
async fn install(tx: &Client) -> Result<String, PartmanError> {
    tx.batch_execute(
        "SET LOCAL TimeZone = 'UTC'; SET LOCAL lock_timeout = '5s';
         CREATE SCHEMA IF NOT EXISTS partman;
         CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;",
    )
    .await?;
    let (schema, version): (String, String) = {
        let row = tx
            .query_one(
                "SELECT n.nspname::text, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'pg_partman'",
                &[],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    // 5.x renamed its partition suffixes and changed create_parent's types.
    if !version.starts_with("4.") {
        return Err(PartmanError::UnsupportedVersion(version));
    }
    Ok(quote_ident(&schema))
}

/// Renames the archive's monthly children to pg_partman's pattern; refuses
/// one that is not exactly one month. Returns the renames and the oldest
/// month's start.
async fn rename_children(
    tx: &Client,
) -> Result<(Vec<(String, String)>, Option<chrono::DateTime<chrono::Utc>>), PartmanError> {
    let children = tx
        .query(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid),
                    b.lo, b.hi, b.lo = date_trunc('month', b.lo) AND b.hi = b.lo + interval '1 month'
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             CROSS JOIN LATERAL (SELECT
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz AS lo,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS hi) b
             WHERE i.inhparent = 'public.todos_archived'::regclass
               AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
             ORDER BY b.lo",
            &[],
        )
        .await?;
    let mut renamed = Vec::new();
    let mut oldest: Option<chrono::DateTime<chrono::Utc>> = None;
    for row in &children {
        let name: String = row.get(0);
        let monthly: bool = row.get(4);
        if !monthly {
            return Err(PartmanError::NotMonthly { name, bounds: row.get(1) });
        }
        let lo: chrono::DateTime<chrono::Utc> = row.get(2);
        oldest = Some(oldest.map_or(lo, |o| o.min(lo)));
        let target = format!("todos_archived_p{}", lo.format("%Y_%m"));
        if name != target {
            tx.batch_execute(&format!("ALTER TABLE public.{} RENAME TO {}", quote_ident(&name), quote_ident(&target)))
                .await?;
            renamed.push((name, target));
        }
    }
    Ok((renamed, oldest))
}

/// Calls pg_partman's `create_parent` for the archive from `start`, with
/// our default partition set aside around the call.
async fn create_parent(tx: &Client, schema: &str, months_ahead: i32, start: &str) -> Result<(), PartmanError> {
    // create_parent skips children that exist under its names and makes the
    // months missing up to premake; only when it made one does it go on to
    // create and attach a default partition, which must not exist then. So
    // ours steps aside for the call: kept if no new default came, else its
    // rows (normally none) are routed through the parent and it is dropped.
    tx.batch_execute(
        "DO $$
         BEGIN
           IF to_regclass('public.todos_archived_default') IS NOT NULL THEN
             ALTER TABLE public.todos_archived DETACH PARTITION public.todos_archived_default;
             ALTER TABLE public.todos_archived_default RENAME TO todos_archived_default_adopting;
           END IF;
         END $$;",
    )
    .await?;
    tx.execute(
        &format!(
            "SELECT {schema}.create_parent(p_parent_table => $1, p_control => 'archived_at', p_type => 'native',
                                           p_interval => 'monthly', p_premake => $2, p_start_partition => $3)"
        ),
        &[&PARENT, &months_ahead, &start],
    )
    .await?;
    tx.batch_execute(
        "DO $$
         BEGIN
           IF to_regclass('public.todos_archived_default_adopting') IS NULL THEN
             NULL;  -- there was no default partition to keep
           ELSIF to_regclass('public.todos_archived_default') IS NULL THEN
             ALTER TABLE public.todos_archived_default_adopting RENAME TO todos_archived_default;
             ALTER TABLE public.todos_archived ATTACH PARTITION public.todos_archived_default DEFAULT;
           ELSE
             INSERT INTO public.todos_archived SELECT * FROM public.todos_archived_default_adopting;
             DROP TABLE public.todos_archived_default_adopting;
           END IF;
         END $$;",
    )
    .await?;
    Ok(())
}

/// Sets pg_partman's retention for the archive set to `retention` and runs
/// its maintenance, which drops the partitions wholly older than that.
/// Returns the partitions dropped. The caller checks the phase first.
pub async fn apply_retention(client: &Client, retention: Duration) -> Result<Vec<String>, PartmanError> {
    let Some(schema) = managing_schema(client).await? else {
        return Err(PartmanError::NotManaging);
    };
    let schema = quote_ident(&schema);
    let names = "SELECT partition_name FROM switchyard.archive_partition_ranges()";
    let before: Vec<String> = client.query(names, &[]).await?.iter().map(|r| r.get(0)).collect();
    let retention = format!("{} seconds", retention.as_secs());
    client
        .execute(
            &format!(
                "UPDATE {schema}.part_config SET retention = $2, retention_keep_table = false WHERE parent_table = $1"
            ),
            &[&PARENT, &retention],
        )
        .await?;
    client.batch_execute("SET TimeZone = 'UTC'").await?;
    let result = client.execute(&format!("SELECT {schema}.run_maintenance($1)"), &[&PARENT]).await;
    client.batch_execute("RESET TimeZone").await?;
    result?;
    let after: Vec<String> = client.query(names, &[]).await?.iter().map(|r| r.get(0)).collect();
    Ok(before.into_iter().filter(|n| !after.contains(n)).collect())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
