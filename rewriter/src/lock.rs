//! Locking reads (`SELECT ... FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE`,
//! `FOR KEY SHARE`, with `NOWAIT` or `SKIP LOCKED`) served from the new
//! tables, where writes go in write_new and new_only, so that is where a
//! following UPDATE takes its row locks first and where the read must lock.
//!
//! PostgreSQL refuses a lock clause that reaches a UNION, even in
//! parenthesised branches, and the new tables are read as the union of
//! `todos_active` and `todos_archived`. Two shapes get around it:
//!
//! - [`branches`], for a locking read without ORDER BY, LIMIT or OFFSET:
//!   the statement once per table, each in a CTE, the CTEs unioned.
//! - [`lateral`], for one with them: legacy's plan is Limit over LockRows
//!   over Sort, so it locks rows in order, one at a time, skipping (SKIP
//!   LOCKED) or re-checking (after a wait) each, and stops when the limit is
//!   full: only the rows it returns (and those OFFSET skips) are locked. The
//!   rewrite does the same with a nested loop: the candidates' keys, filtered
//!   and sorted over the union without locking, drive a LATERAL sub-select
//!   that locks the one row in its own table with the client's lock clause and
//!   re-checks the client's WHERE on it (PostgreSQL re-evaluates it on the
//!   newest row version after a wait, as legacy does); the client's LIMIT and
//!   OFFSET sit directly above that loop, so no row past them is tried.
//!
//! ```text
//! SELECT <list> FROM (
//!   SELECT sy_l.* FROM (SELECT A.id AS sy_k_id, A.user_id AS sy_k_uid, A.sy_src AS sy_k_src
//!                       FROM (<union, each row tagged with its table>) AS A WHERE <w> ORDER BY <o>) AS sy_c
//!   CROSS JOIN LATERAL (
//!     SELECT * FROM (SELECT <cols> FROM todos_active AS A
//!                    WHERE sy_c.sy_k_src = 'a' AND A.id = sy_c.sy_k_id AND A.user_id = sy_c.sy_k_uid AND (<w>)
//!                    <lock clause>) AS sy_la
//!     UNION ALL
//!     SELECT * FROM (<the same over todos_archived, tag 'r'>) AS sy_lr) AS sy_l
//!   <LIMIT/OFFSET/FETCH>) AS A
//! ```

use crate::classify::{Analysis, TableRef};
use crate::lex::{self, Kind, Token};
use crate::spec::MigrationSpec;
use crate::splice::{render, Edit};

/// `WITH sy_lock_a AS (<it over active>), sy_lock_r AS (<it over archived>)
/// SELECT * FROM sy_lock_a UNION ALL SELECT * FROM sy_lock_r`, each CTE
/// reading its table through a plain sub-select of the legacy columns, which
/// a locking clause locks through. Active comes first (lock order).
pub fn branches(sql: &str, a: &Analysis, r: &TableRef, spec: &MigrationSpec) -> Option<String> {
    let cols = spec.columns.legacy.join(", ");
    let branch = |table: &str| {
        let sub = format!("(SELECT {cols} FROM {}.{table})", spec.new.schema);
        let text = match r.alias {
            Some(_) => sub,
            None => format!("{sub} AS {}", spec.legacy.table),
        };
        render(sql, a.query_start, a.end, &[Edit::new(r.start, r.end, text)]).ok()
    };
    Some(format!(
        "{}WITH sy_lock_a AS ({}), sy_lock_r AS ({}) SELECT * FROM sy_lock_a UNION ALL SELECT * FROM sy_lock_r",
        cursor_prefix(sql, a),
        branch(&spec.new.active.table)?,
        branch(&spec.new.archived.table)?
    ))
}

/// `DECLARE ... FOR ` of a cursor's query, or nothing.
fn cursor_prefix<'a>(sql: &'a str, a: &Analysis) -> &'a str {
    sql.get(a.start..a.query_start).unwrap_or("")
}

/// The clauses of a single-table locking SELECT, as byte ranges.
struct Clauses {
    /// The select list.
    list: (usize, usize),
    /// What follows the table's name up to the first clause: `AS t`, `t`, or nothing.
    alias: (usize, usize),
    /// `WHERE`'s condition, without the keyword.
    condition: Option<(usize, usize)>,
    /// `ORDER BY ...`, keywords included.
    order: Option<(usize, usize)>,
    /// `LIMIT ...`, `OFFSET ...`, `FETCH ...`, each with its keyword.
    limits: Vec<(usize, usize)>,
    /// Each `FOR ...` lock clause.
    locks: Vec<(usize, usize)>,
}

const CLAUSES: [&str; 10] = ["where", "group", "having", "window", "order", "limit", "offset", "fetch", "for", "union"];

fn clause_word(sql: &str, t: &Token) -> Option<&'static str> {
    CLAUSES
        .iter()
        .copied()
        .find(|w| t.is_word(sql, w))
        .or_else(|| ["intersect", "except"].iter().any(|w| t.is_word(sql, w)).then_some("union"))
}

/// Finds the clauses lexically: the statement parsed as one SELECT over one
/// table, so its clause keywords (reserved words) are the ones at paren
/// depth 0 after the table's name.
fn clauses(sql: &str, a: &Analysis, r: &TableRef) -> Result<Clauses, String> {
    let toks: Vec<Token> =
        lex::tokens(sql).into_iter().filter(|t| t.start >= a.query_start && t.end <= a.end).collect();
    let depth = lex::depths(&toks);
    let select = toks.first().filter(|t| t.is_word(sql, "select")).ok_or("a locking read not starting with SELECT")?;
    let from = toks.iter().take_while(|t| t.end <= r.start).last().filter(|t| t.is_word(sql, "from"));
    let from = from.ok_or("a locking read whose FROM is not the table alone")?;
    let mut marks: Vec<(&'static str, usize, usize)> = Vec::new();
    for (t, d) in toks.iter().zip(&depth) {
        if t.start < r.end || *d != 0 {
            continue;
        }
        if let Some(w) = clause_word(sql, t) {
            marks.push((w, t.start, t.end));
        }
    }
    let alias_end = marks.first().map_or(a.end, |m| m.1);
    if toks.iter().any(|t| t.start >= r.end && t.end <= alias_end && matches!(t.kind, Kind::Open | Kind::Comma)) {
        return Err("a locking read with a column alias list or several FROM items".into());
    }
    let mut c = Clauses {
        list: (select.end, from.start),
        alias: (r.end, alias_end),
        condition: None,
        order: None,
        limits: Vec::new(),
        locks: Vec::new(),
    };
    for (i, (word, start, kw_end)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(a.end, |m| m.1);
        match *word {
            "where" => c.condition = Some((*kw_end, end)),
            "order" => c.order = Some((*start, end)),
            "limit" | "offset" | "fetch" => c.limits.push((*start, end)),
            "for" => c.locks.push((*start, end)),
            other => return Err(format!("{} in a locking read", other.to_ascii_uppercase())),
        }
    }
    if c.limits.iter().any(|l| text(sql, *l).to_ascii_lowercase().split_whitespace().any(|w| w == "ties")) {
        return Err("FETCH ... WITH TIES in a locking read".into());
    }
    Ok(c)
}

fn text(sql: &str, (s, e): (usize, usize)) -> &str {
    sql.get(s..e).unwrap_or("").trim()
}

/// The nested-loop form (module docs) of a locking read with ORDER BY,
/// LIMIT, OFFSET or FETCH. Err names what the shape does not allow.
pub fn lateral(sql: &str, a: &Analysis, r: &TableRef, spec: &MigrationSpec) -> Result<String, String> {
    let c = clauses(sql, a, r)?;
    let table = &spec.legacy.table;
    let name = r.alias.clone().unwrap_or_else(|| table.clone());
    let alias = match r.alias {
        Some(_) => text(sql, c.alias).to_string(),
        None => format!("AS {table}"),
    };
    let (key, part) = (&spec.legacy.key[0], &spec.new.partition_key);
    let cols = spec.columns.legacy.join(", ");
    let s = &spec.new.schema;
    let (active, archived) = (&spec.new.active.table, &spec.new.archived.table);
    let tagged =
        format!("(SELECT {cols}, 'a' AS sy_src FROM {s}.{active} UNION ALL SELECT {cols}, 'r' FROM {s}.{archived})");
    let list = text(sql, c.list);
    let keys = format!("{name}.{key} AS sy_k_id, {name}.{part} AS sy_k_uid, {name}.sy_src AS sy_k_src");
    // ORDER BY 2 or an output alias needs the client's list before the keys.
    let candidate_list = if a.order_by_output { format!("{list}, {keys}") } else { keys };
    let filter = c.condition.map(|w| format!(" WHERE {}", text(sql, w))).unwrap_or_default();
    let order = c.order.map(|o| format!(" {}", text(sql, o))).unwrap_or_default();
    let recheck = c.condition.map(|w| format!(" AND ({})", text(sql, w))).unwrap_or_default();
    let locks: Vec<&str> = c.locks.iter().map(|l| text(sql, *l)).collect();
    let branch = |t: &str, tag: &str| {
        format!(
            "SELECT * FROM (SELECT {cols} FROM {s}.{t} {alias} WHERE sy_c.sy_k_src = '{tag}' \
             AND {name}.{key} = sy_c.sy_k_id AND {name}.{part} = sy_c.sy_k_uid{recheck} {}) AS sy_l{tag}",
            locks.join(" ")
        )
    };
    let limits: Vec<&str> = c.limits.iter().map(|l| text(sql, *l)).collect();
    Ok(format!(
        "{}SELECT {list} FROM (SELECT sy_l.* FROM (SELECT {candidate_list} FROM {tagged} {alias}{filter}{order}) AS sy_c \
         CROSS JOIN LATERAL ({} UNION ALL {}) AS sy_l {}) AS {name}",
        cursor_prefix(sql, a),
        branch(active, "a"),
        branch(archived, "r"),
        limits.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::analyze;

    fn rewrite(sql: &str) -> Result<String, String> {
        let spec = MigrationSpec::default_todos();
        let a = analyze(sql, &spec).expect("parses").expect("a statement");
        lateral(sql, &a, &a.reads[0], &spec)
    }

    #[test]
    fn the_limit_sits_above_the_locking_loop_and_the_order_below_it() {
        let out = rewrite(
            "SELECT t.id FROM todos t WHERE t.status = $1 ORDER BY t.created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .expect("planned");
        assert!(out.starts_with("SELECT t.id FROM (SELECT sy_l.* FROM (SELECT t.id AS sy_k_id"), "{out}");
        assert!(out.contains(" t WHERE t.status = $1 ORDER BY t.created_at) AS sy_c CROSS JOIN LATERAL"), "{out}");
        assert!(out.contains("FROM public.todos_active t WHERE sy_c.sy_k_src = 'a' AND t.id = sy_c.sy_k_id AND t.user_id = sy_c.sy_k_uid AND (t.status = $1) FOR UPDATE SKIP LOCKED) AS sy_la"), "{out}");
        assert!(out.ends_with(") AS sy_l LIMIT $2) AS t"), "{out}");
    }

    #[test]
    fn lock_strength_limit_order_and_cursor_text_are_kept() {
        let out =
            rewrite("DECLARE c CURSOR FOR SELECT * FROM \"todos\" WHERE id = $1 FOR NO KEY UPDATE NOWAIT LIMIT 21")
                .expect("planned");
        assert!(out.starts_with("DECLARE c CURSOR FOR SELECT * FROM (SELECT sy_l.*"), "{out}");
        assert!(out.contains("AS todos WHERE sy_c.sy_k_src = 'r' AND todos.id = sy_c.sy_k_id"), "{out}");
        assert!(out.contains("AND (id = $1) FOR NO KEY UPDATE NOWAIT) AS sy_lr"), "{out}");
        assert!(out.ends_with("LIMIT 21) AS todos"), "{out}");
        let out = rewrite(
            "SELECT id, priority AS p FROM todos ORDER BY p DESC, 1 OFFSET 1 FETCH FIRST 2 ROWS ONLY FOR KEY SHARE",
        )
        .expect("planned");
        assert!(out.contains("(SELECT id, priority AS p, todos.id AS sy_k_id"), "output names stay sortable: {out}");
        assert!(out.contains("AS sy_l OFFSET 1 FETCH FIRST 2 ROWS ONLY) AS todos"), "{out}");
    }

    #[test]
    fn shapes_a_lock_clause_does_not_allow_are_named() {
        assert!(rewrite("SELECT id FROM todos t (a, b) ORDER BY 1 FOR UPDATE").is_err());
        assert!(rewrite("SELECT id FROM todos ORDER BY id FETCH FIRST 1 ROW WITH TIES FOR UPDATE").is_err());
    }
}
