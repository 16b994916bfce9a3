//! The migration spec (`migrations/todos.toml`): which legacy table moves to
//! which new tables, its columns, the derived `depth` column and the mirror
//! functions. Parsed with serde, then validated with errors naming the field;
//! [`check_catalog`] compares it with the live catalog's column lists, which
//! the proxy reads at start (this crate does no I/O).

use serde::Deserialize;

/// The shipped spec, compiled in.
pub const DEFAULT_SPEC_TOML: &str = include_str!("../../migrations/todos.toml");

/// What can be wrong with a spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec is not valid TOML or misses a field: {0}")]
    Toml(String),
    #[error("spec field `{field}`: {problem}")]
    Field { field: &'static str, problem: String },
}

fn field(field: &'static str, problem: impl Into<String>) -> SpecError {
    SpecError::Field { field, problem: problem.into() }
}

/// The legacy side.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Legacy {
    pub schema: String,
    pub table: String,
    pub key: Vec<String>,
    /// A column the legacy table's BEFORE UPDATE trigger sets to `now()`.
    pub touch_on_update: Option<String>,
}

/// One new table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    pub table: String,
    pub key: Vec<String>,
}

/// The archive table and the rule routing rows to it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Archived {
    pub table: String,
    pub key: Vec<String>,
    pub check: String,
    pub route: String,
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    pub archived_at_column: String,
}

fn default_retention() -> u32 {
    30
}

/// The new side.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct New {
    pub schema: String,
    pub partition_key: String,
    pub active: NewTable,
    pub archived: Archived,
}

/// Column lists.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub legacy: Vec<String>,
}

/// The derived depth column.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Depth {
    pub column: String,
    pub parent_column: String,
}

/// Derived columns.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    pub depth: Depth,
}

/// The mirror functions (migration 0010).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub schema: String,
    pub to_new: String,
    pub to_legacy: String,
    pub new_only: String,
    pub sink: String,
}

/// A whole migration spec.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MigrationSpec {
    pub legacy: Legacy,
    pub new: New,
    pub columns: Columns,
    pub derived: Derived,
    pub mirror: Mirror,
}

fn check_ident(name: &'static str, v: &str) -> Result<(), SpecError> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.bytes().next().is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && v.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(field(name, format!("`{v}` is not a lower-case SQL identifier")))
    }
}

impl MigrationSpec {
    /// Parses and validates a spec.
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        let spec: MigrationSpec = toml::from_str(text).map_err(|e| SpecError::Toml(e.message().to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The shipped `todos` spec.
    pub fn default_todos() -> Self {
        // The shipped file is validated by a unit test; a broken build of it
        // cannot reach a release.
        match Self::from_toml(DEFAULT_SPEC_TOML) {
            Ok(s) => s,
            Err(e) => panic!("the compiled-in spec is invalid: {e}"),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_ident("legacy.schema", &self.legacy.schema)?;
        check_ident("legacy.table", &self.legacy.table)?;
        check_ident("new.schema", &self.new.schema)?;
        check_ident("new.partition_key", &self.new.partition_key)?;
        check_ident("new.active.table", &self.new.active.table)?;
        check_ident("new.archived.table", &self.new.archived.table)?;
        check_ident("new.archived.archived_at_column", &self.new.archived.archived_at_column)?;
        check_ident("derived.depth.column", &self.derived.depth.column)?;
        check_ident("derived.depth.parent_column", &self.derived.depth.parent_column)?;
        check_ident("mirror.schema", &self.mirror.schema)?;
        check_ident("mirror.to_new", &self.mirror.to_new)?;
        check_ident("mirror.to_legacy", &self.mirror.to_legacy)?;
        check_ident("mirror.new_only", &self.mirror.new_only)?;
        check_ident("mirror.sink", &self.mirror.sink)?;
        if self.columns.legacy.is_empty() {
            return Err(field("columns.legacy", "must list the legacy table's columns"));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.columns.legacy {
            check_ident("columns.legacy", c)?;
            if !seen.insert(c.as_str()) {
                return Err(field("columns.legacy", format!("`{c}` is listed twice")));
            }
        }
        let has = |c: &str| self.columns.legacy.iter().any(|x| x == c);
        if self.legacy.key.is_empty() {
            return Err(field("legacy.key", "must name at least one column"));
        }
        for k in &self.legacy.key {
            if !has(k) {
                return Err(field("legacy.key", format!("`{k}` is not in columns.legacy")));
            }
        }
        if !has(&self.new.partition_key) {
            return Err(field("new.partition_key", format!("`{}` is not in columns.legacy", self.new.partition_key)));
        }
        for k in &self.new.active.key {
            if !has(k) {
                return Err(field("new.active.key", format!("`{k}` is not in columns.legacy")));
            }
        }
        for k in &self.new.archived.key {
            if !has(k) && *k != self.new.archived.archived_at_column {
                return Err(field(
                    "new.archived.key",
                    format!("`{k}` is neither a legacy column nor the archived_at column"),
                ));
            }
        }
        if !has(&self.derived.depth.parent_column) {
            return Err(field("derived.depth.parent_column", "is not in columns.legacy"));
        }
        if has(&self.derived.depth.column) {
            return Err(field("derived.depth.column", "must not be a legacy column"));
        }
        if let Some(t) = &self.legacy.touch_on_update {
            if !has(t) {
                return Err(field("legacy.touch_on_update", format!("`{t}` is not in columns.legacy")));
            }
        }
        if self.new.archived.retention_days == 0 {
            return Err(field("new.archived.retention_days", "must be at least 1"));
        }
        if self.new.active.table == self.new.archived.table || self.new.active.table == self.legacy.table {
            return Err(field("new.active.table", "must differ from the other tables"));
        }
        Ok(())
    }

    /// `schema.function` of the legacy → new mirror.
    pub fn to_new_fn(&self) -> String {
        format!("{}.{}", self.mirror.schema, self.mirror.to_new)
    }

    /// `schema.function` of the new → legacy mirror.
    pub fn to_legacy_fn(&self) -> String {
        format!("{}.{}", self.mirror.schema, self.mirror.to_legacy)
    }

    /// `schema.function` of the legacy → new mirror of updates that move no
    /// row (migration 0017; see `mirror`).
    pub fn in_place_fn(&self) -> String {
        format!("{}.{}_in_place", self.mirror.schema, self.mirror.to_new)
    }

    /// `schema.function` of the new_only bookkeeping.
    pub fn new_only_fn(&self) -> String {
        format!("{}.{}", self.mirror.schema, self.mirror.new_only)
    }

    /// `schema.table` of the mirror sink.
    pub fn sink(&self) -> String {
        format!("{}.{}", self.mirror.schema, self.mirror.sink)
    }

    /// `schema.view` of the rows an INSERT ... ON CONFLICT proposes
    /// (migration 0015): legacy columns and defaults, stores nothing.
    pub fn proposed_view(&self) -> String {
        format!("{}.{}_proposed", self.mirror.schema, self.legacy.table)
    }

    /// The legacy row type, `schema.table`.
    pub fn legacy_type(&self) -> String {
        format!("{}.{}", self.legacy.schema, self.legacy.table)
    }

    /// Whether `name` is a legacy column.
    pub fn is_legacy_column(&self, name: &str) -> bool {
        self.columns.legacy.iter().any(|c| c == name)
    }
}

/// The live catalog's column lists (from `information_schema.columns` in
/// ordinal order), gathered by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogColumns {
    pub legacy: Vec<String>,
    pub active: Vec<String>,
    pub archived: Vec<String>,
}

/// One disagreement between the spec and the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogMismatch {
    /// A table the spec names has no columns at all (missing table).
    MissingTable { table: String },
    /// A column the spec expects is absent from a table.
    MissingColumn { table: String, column: String },
    /// A table holds a column the spec does not know.
    UnexpectedColumn { table: String, column: String },
    /// A new table's legacy columns are not in the legacy order (positional
    /// `INSERT INTO todos VALUES (...)` relies on it).
    OrderDiffers { table: String },
}

impl std::fmt::Display for CatalogMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogMismatch::MissingTable { table } => write!(f, "table {table} is missing"),
            CatalogMismatch::MissingColumn { table, column } => {
                write!(f, "column {table}.{column} is missing")
            }
            CatalogMismatch::UnexpectedColumn { table, column } => {
                write!(f, "column {table}.{column} is not in the migration spec")
            }
            CatalogMismatch::OrderDiffers { table } => {
                write!(f, "the legacy columns of {table} are not in the legacy table's order")
            }
        }
    }
}

/// Compares the spec with the catalog; empty means they agree.
pub fn check_catalog(spec: &MigrationSpec, cat: &CatalogColumns) -> Vec<CatalogMismatch> {
    let mut out = Vec::new();
    let legacy = &spec.columns.legacy;
    let depth = &spec.derived.depth.column;
    let archived_at = &spec.new.archived.archived_at_column;
    let mut expect_active: Vec<&String> = legacy.iter().collect();
    expect_active.push(depth);
    let mut expect_archived = expect_active.clone();
    expect_archived.push(archived_at);
    let tables: [(&str, &Vec<String>, Vec<&String>); 3] = [
        (&spec.legacy.table, &cat.legacy, legacy.iter().collect()),
        (&spec.new.active.table, &cat.active, expect_active),
        (&spec.new.archived.table, &cat.archived, expect_archived),
    ];
    for (table, have, want) in tables {
        if have.is_empty() {
            out.push(CatalogMismatch::MissingTable { table: table.to_string() });
            continue;
        }
        for w in &want {
            if !have.contains(w) {
                out.push(CatalogMismatch::MissingColumn { table: table.to_string(), column: w.to_string() });
            }
        }
        for h in have {
            if !want.contains(&h) {
                out.push(CatalogMismatch::UnexpectedColumn { table: table.to_string(), column: h.clone() });
            }
        }
        let order: Vec<&String> = have.iter().filter(|c| legacy.contains(c)).collect();
        let want_order: Vec<&String> = legacy.iter().filter(|c| have.contains(c)).collect();
        if order != want_order {
            out.push(CatalogMismatch::OrderDiffers { table: table.to_string() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_spec_is_valid() {
        let s = MigrationSpec::from_toml(DEFAULT_SPEC_TOML).expect("valid");
        assert_eq!(s.legacy.table, "todos");
        assert_eq!(s.columns.legacy.len(), 15);
        assert_eq!(s.new.archived.retention_days, 30);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_SPEC_TOML.replace("partition_key = \"user_id\"", "partition_key = \"owner\"");
        let e = MigrationSpec::from_toml(&bad).expect_err("invalid");
        assert!(e.to_string().contains("new.partition_key"), "{e}");
        let bad = DEFAULT_SPEC_TOML.replace("table = \"todos_active\"", "table = \"Todos Active\"");
        let e = MigrationSpec::from_toml(&bad).expect_err("invalid");
        assert!(e.to_string().contains("new.active.table"), "{e}");
        let bad = DEFAULT_SPEC_TOML.replace("to_new = \"mirror_todos\"\n", "");
        let e = MigrationSpec::from_toml(&bad).expect_err("invalid");
        assert!(e.to_string().contains("to_new"), "{e}");
        let bad = DEFAULT_SPEC_TOML.replace("retention_days = 30", "retention_days = 0");
        assert!(MigrationSpec::from_toml(&bad).expect_err("invalid").to_string().contains("retention_days"));
    }

    #[test]
    fn catalog_mismatches_are_reported() {
        let spec = MigrationSpec::default_todos();
        let legacy = spec.columns.legacy.clone();
        let mut active = legacy.clone();
        active.push("depth".into());
        let mut archived = active.clone();
        archived.push("archived_at".into());
        let good = CatalogColumns { legacy: legacy.clone(), active: active.clone(), archived: archived.clone() };
        assert!(check_catalog(&spec, &good).is_empty());
        let mut bad = good.clone();
        bad.active.retain(|c| c != "metadata");
        bad.archived.push("extra".into());
        bad.legacy.clear();
        let m = check_catalog(&spec, &bad);
        assert!(m.contains(&CatalogMismatch::MissingColumn { table: "todos_active".into(), column: "metadata".into() }));
        assert!(
            m.contains(&CatalogMismatch::UnexpectedColumn { table: "todos_archived".into(), column: "extra".into() })
        );
        assert!(m.contains(&CatalogMismatch::MissingTable { table: "todos".into() }));
    }
}
