//! The current definition of every object in the `public` and `switchyard`
//! schemas, read back from PostgreSQL's catalogs in a stable order: what
//! `schema/current.sql` holds after the migrations ran on a fresh database.
//!
//! The migrations are a history (0014 replaces 0004's functions, 0018 some
//! of 0013's); this is the result, so a reader finds a function's body
//! without replaying the files in their head. The definitions come from
//! PostgreSQL itself (`pg_get_functiondef`, `pg_get_viewdef`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_triggerdef`:
//! <https://www.postgresql.org/docs/current/functions-info.html>), read with
//! `search_path = pg_catalog` so every name comes out schema-qualified
//! whoever runs it. Partitions are left out but for their hash and default
//! bounds: the monthly archive partitions depend on the day the dump ran.

use tokio_postgres::Client;

/// One object and its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaObject {
    /// What it is and its qualified name, e.g. `function switchyard.lock_table(regclass, text, interval, integer)`.
    pub key: String,
    /// Its definition as PostgreSQL prints it back.
    pub definition: String,
}

/// The kinds in the order they are listed (tables before what refers to them).
const KINDS: [&str; 5] = ["table", "index", "view", "function", "trigger"];

/// Every table, index, view, function and trigger of the `public` and
/// `switchyard` schemas, ordered by kind and name. Objects that belong to an
/// extension are left out.
pub async fn objects(client: &mut Client) -> Result<Vec<SchemaObject>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL search_path = pg_catalog").await?;
    let mut out = Vec::new();
    for table in tx.query(TABLES, &[]).await? {
        let (oid, name, partitioned): (u32, String, bool) = (table.get(0), table.get(1), table.get(2));
        out.push(SchemaObject {
            key: format!("table {name}"),
            definition: table_definition(&tx, oid, &name, partitioned).await?,
        });
    }
    for (kind, sql) in [("index", INDEXES), ("view", VIEWS), ("function", FUNCTIONS), ("trigger", TRIGGERS)] {
        for row in tx.query(sql, &[]).await? {
            let definition: String = row.get(1);
            out.push(SchemaObject {
                key: format!("{kind} {}", row.get::<_, String>(0)),
                definition: format!("{};", definition.trim_end().trim_end_matches(';')),
            });
        }
    }
    tx.commit().await?;
    out.sort_by(|a, b| (kind_rank(&a.key), &a.key).cmp(&(kind_rank(&b.key), &b.key)));
    Ok(out)
}

fn kind_rank(key: &str) -> usize {
    KINDS.iter().position(|k| key.split(' ').next() == Some(*k)).unwrap_or(KINDS.len())
}

/// `objects` as a SQL file: each definition under a comment naming it.
pub fn render(objects: &[SchemaObject], header: &str) -> String {
    let mut out = String::from(header);
    for o in objects {
        out.push_str(&format!("\n-- {}\n{}\n", o.key, o.definition));
    }
    out
}

const TABLES: &str = "SELECT c.oid, c.oid::regclass::text, c.relkind = 'p'
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('public', 'switchyard') AND c.relkind IN ('r', 'p') AND NOT c.relispartition";

const INDEXES: &str = "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname IN ('public', 'switchyard') AND NOT t.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)";

const VIEWS: &str = "SELECT c.oid::regclass::text,
           'CREATE VIEW ' || c.oid::regclass::text || ' AS' || chr(10) || pg_get_viewdef(c.oid, true)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('public', 'switchyard') AND c.relkind IN ('v', 'm')";

const FUNCTIONS: &str = "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('public', 'switchyard') AND p.prokind IN ('f', 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')";

const TRIGGERS: &str = "SELECT t.tgname || ' on ' || c.oid::regclass::text, pg_get_triggerdef(t.oid)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('public', 'switchyard') AND NOT t.tgisinternal AND NOT c.relispartition";

/// `CREATE TABLE` with columns, constraints, the partition key, and the
/// partitions whose bounds do not depend on the date (hash, default).
async fn table_definition(
    tx: &tokio_postgres::Transaction<'_>,
    oid: u32,
    name: &str,
    partitioned: bool,
) -> Result<String, tokio_postgres::Error> {
    let mut items: Vec<String> = Vec::new();
    let columns = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
               FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await?;
    for c in columns {
        let mut item = format!("    {} {}", c.get::<_, String>(0), c.get::<_, String>(1));
        if c.get::<_, bool>(2) {
            item.push_str(" NOT NULL");
        }
        if let Some(default) = c.get::<_, Option<String>>(3) {
            item.push_str(&format!(" DEFAULT {default}"));
        }
        items.push(item);
    }
    let constraints = tx
        .query(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1 ORDER BY conname",
            &[&oid],
        )
        .await?;
    for k in constraints {
        items.push(format!("    CONSTRAINT {} {}", k.get::<_, String>(0), k.get::<_, String>(1)));
    }
    let mut out = format!("CREATE TABLE {name} (\n{}\n)", items.join(",\n"));
    if partitioned {
        let key: String = tx.query_one("SELECT pg_get_partkeydef($1)", &[&oid]).await?.get(0);
        out.push_str(&format!(" PARTITION BY {key};"));
        let parts = tx
            .query(
                "SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid)
                   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = $1 AND pg_get_expr(c.relpartbound, c.oid) NOT LIKE 'FOR VALUES FROM%'
                  ORDER BY 1",
                &[&oid],
            )
            .await?;
        for p in parts {
            out.push_str(&format!(
                "\nCREATE TABLE {} PARTITION OF {name} {};",
                p.get::<_, String>(0),
                p.get::<_, String>(1)
            ));
        }
    } else {
        out.push(';');
    }
    Ok(out)
}
