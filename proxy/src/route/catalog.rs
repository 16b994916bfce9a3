//! Reading the facts [`crate::route::legacy_names::LegacyNames`] is built from: the
//! legacy table's and the new tables' relations (every partition), their
//! columns and constraints, and the source of the proxy's own functions, in
//! four catalog queries at start-up; and the column lists the migration
//! spec is checked against ([`spec_columns`]).

use std::collections::HashMap;

use tokio_postgres::Client;

use switchyard_rewriter::{CatalogColumns, MigrationSpec};

use crate::route::legacy_names::{CatalogFacts, ConstraintFacts, RelationFacts};

/// The columns of the spec's legacy, active and archived tables, in order
/// (empty for a table that does not exist).
pub async fn spec_columns(client: &Client, spec: &MigrationSpec) -> Result<CatalogColumns, tokio_postgres::Error> {
    Ok(CatalogColumns {
        legacy: columns(client, &spec.legacy.table).await?,
        active: columns(client, &spec.new.active.table).await?,
        archived: columns(client, &spec.new.archived.table).await?,
    })
}

async fn columns(client: &Client, table: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The legacy table `legacy` and the partition trees of `new_tables`
/// (schema-qualified names). Tables that do not exist are left out.
pub async fn load_facts(
    client: &Client,
    legacy: &str,
    new_tables: &[&str],
) -> Result<CatalogFacts, tokio_postgres::Error> {
    let names: Vec<String> = new_tables.iter().map(|t| t.to_string()).collect();
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.oid = to_regclass($1)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = to_regclass($1)
                 OR c.oid IN (SELECT relid FROM unnest($2::text[]) t, pg_partition_tree(to_regclass(t)))",
            &[&legacy, &names],
        )
        .await?;
    let mut relations: HashMap<u32, RelationFacts> = HashMap::new();
    let mut legacy_oid = None;
    for r in &rows {
        let oid: u32 = r.get(0);
        if r.get::<_, bool>(3) {
            legacy_oid = Some(oid);
        }
        relations.insert(oid, RelationFacts { oid, schema: r.get(1), name: r.get(2), ..RelationFacts::default() });
    }
    let oids: Vec<u32> = relations.keys().copied().collect();
    let columns = client
        .query(
            "SELECT attrelid, attnum, attname::text, atttypid, atttypmod FROM pg_attribute
              WHERE attrelid = ANY($1) AND attnum > 0 AND NOT attisdropped ORDER BY attrelid, attnum",
            &[&oids],
        )
        .await?;
    for r in &columns {
        if let Some(rel) = relations.get_mut(&r.get::<_, u32>(0)) {
            rel.columns.push((r.get(1), r.get(2)));
            rel.types.push((r.get(3), r.get(4)));
        }
    }
    let constraints = client
        .query(
            "SELECT c.conrelid, c.conname::text, c.contype::text, c.confrelid,
                    coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                                FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num), '{}')
               FROM pg_constraint c WHERE c.conrelid = ANY($1)",
            &[&oids],
        )
        .await?;
    for r in &constraints {
        if let Some(rel) = relations.get_mut(&r.get::<_, u32>(0)) {
            rel.constraints.push(ConstraintFacts {
                name: r.get(1),
                kind: r.get::<_, String>(2).chars().next().unwrap_or('?'),
                columns: r.get(4),
                references: r.get(3),
            });
        }
    }
    let own = client
        .query(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'switchyard'",
            &[],
        )
        .await?;
    let legacy = legacy_oid.and_then(|oid| relations.remove(&oid)).unwrap_or_default();
    let mut new: Vec<RelationFacts> = relations.into_values().collect();
    new.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(CatalogFacts { legacy, new, own_function_sources: own.iter().map(|r| r.get(0)).collect() })
}
