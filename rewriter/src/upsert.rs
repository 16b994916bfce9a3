//! `INSERT INTO todos ... ON CONFLICT` on the new tables (write_new,
//! new_only), with legacy's meaning: the conflict target is the legacy key
//! (id), whichever new table holds the row.
//!
//! No index sees a conflict on id across todos_active (key id, user_id) and
//! todos_archived (key id, archived_at), so the statement is split into
//! CTEs (migration 0015 describes the view they start from):
//!
//! ```text
//! sy_p   AS (INSERT INTO switchyard.todos_proposed AS todos <client's columns and rows> RETURNING todos.*)
//! sy_n   AS (INSERT INTO todos_active ... SELECT ... FROM sy_p WHERE <id in neither table>
//!            ON CONFLICT (id, user_id) <client's action>)      -- a concurrent insert still conflicts
//! sy_ua  AS (UPDATE todos_active   SET <client's SET> FROM sy_p AS excluded WHERE id = excluded.id AND <client's WHERE>)
//! sy_ur  AS (UPDATE todos_archived ... AND <new status> = 'done')        -- stays archived
//! sy_mo  AS (DELETE FROM todos_archived ... AND <new status> <> 'done' RETURNING <updated image>),
//! sy_mi  AS (INSERT INTO todos_active SELECT ... FROM sy_mo)              -- reopened: leaves the archive
//! ```
//!
//! DO NOTHING keeps only `sy_p` and `sy_n`. The union of what was inserted
//! or updated is the statement's row images, as for any other write.

use crate::classify::Site;
use crate::lex;
use crate::set_list;
use crate::splice::{render, Edit};
use crate::write::{touch_edits, unsupported, Ctx, Unsupported};

/// What the client asked for on a conflict.
enum Action {
    Nothing,
    /// The token index of `SET`.
    Update {
        set: usize,
    },
}

/// The ON CONFLICT clause: where it starts (byte offset) and its action.
struct Conflict {
    start: usize,
    action: Action,
}

/// The CTEs for an `INSERT ... ON CONFLICT` site, the last one named
/// `sy_rows_{k}`; `None` for a form PostgreSQL itself rejects the same way
/// on the new tables (DO UPDATE without a conflict target).
pub(crate) fn rewrite(
    cx: &Ctx<'_>,
    toks: &[(usize, i32)],
    site: &Site,
    k: usize,
    reads: &[Edit],
    alias: &str,
    row_list: &str,
) -> Result<Option<String>, Unsupported> {
    let Some(conflict) = parse_conflict(cx, toks)? else {
        return Ok(None);
    };
    let spec = cx.spec;
    let [key] = spec.legacy.key.as_slice() else {
        return Err(unsupported("ON CONFLICT on a table with a composite key in write_new/new_only"));
    };
    let active = format!("{}.{}", spec.new.schema, spec.new.active.table);
    let archived = format!("{}.{}", spec.new.schema, spec.new.archived.table);
    let cols = spec.columns.legacy.join(", ");
    let mut head_edits: Vec<Edit> =
        reads.iter().filter(|e| e.start >= site.start && e.end <= conflict.start).cloned().collect();
    let view = spec.proposed_view();
    head_edits.push(match &site.target.alias {
        Some(_) => Edit::new(site.target.start, site.target.end, view),
        None => Edit::new(site.target.start, site.target.end, format!("{view} AS {alias}")),
    });
    let head = render(cx.src, site.start, conflict.start, &head_edits).map_err(|e| unsupported(e.to_string()))?;
    let p = format!("sy_p_{k}");
    let exists = format!(
        "EXISTS (SELECT 1 FROM {active} sy_x WHERE sy_x.{key} = {p}.{key}) \
         OR EXISTS (SELECT 1 FROM {archived} sy_x WHERE sy_x.{key} = {p}.{key})"
    );
    let proposed = format!("{p} AS ({} RETURNING {alias}.*)", head.trim_end());
    let insert_new = |action: &str| {
        format!(
            "sy_n_{k} AS (INSERT INTO {active} AS {alias} ({cols}) SELECT {cols} FROM {p} WHERE NOT ({exists}) \
             ON CONFLICT ({}) {action} RETURNING {row_list})",
            spec.new.active.key.join(", ")
        )
    };
    let set = match conflict.action {
        Action::Nothing => {
            return Ok(Some(format!(
                "{proposed}, {}, sy_rows_{k} AS (SELECT * FROM sy_n_{k})",
                insert_new("DO NOTHING")
            )))
        }
        Action::Update { set } => set,
    };
    let list = set_list::parse(cx, toks, set, site.end, reads)?;
    let partition_key = &spec.new.partition_key;
    if let Some((c, _)) = list.assigned.iter().find(|(c, _)| c == key || c == partition_key) {
        return Err(unsupported(format!("ON CONFLICT DO UPDATE SET {c} on todos in write_new/new_only")));
    }
    let mut set_edits: Vec<Edit> = reads.to_vec();
    if let Some(touch) = &spec.legacy.touch_on_update {
        set_edits.extend(touch_edits(cx, toks, set, site.end, touch)?);
    }
    let set_text = render(cx.src, cx.toks[set].end, list.end, &set_edits).map_err(|e| unsupported(e.to_string()))?;
    let set_text = set_text.trim();
    let cond = match list.where_kw {
        Some(w) => set_list::piece(cx, reads, cx.toks[w].end, list.ret_kw.map_or(site.end, |i| cx.toks[i].start))?
            .trim()
            .to_string(),
        None => "true".to_string(),
    };
    let matched = format!("{alias}.{key} = excluded.{key} AND ({cond})");
    let update = |table: &str, extra: &str, name: &str| {
        format!(
            "{name}_{k} AS (UPDATE {table} AS {alias} SET {set_text} FROM {p} AS excluded \
             WHERE {matched}{extra} RETURNING {row_list})"
        )
    };
    let where_action = match list.where_kw {
        Some(_) => format!(" WHERE {cond}"),
        None => String::new(),
    };
    let mut ctes = vec![
        proposed,
        // Legacy refuses to update one row twice in a command.
        format!(
            "sy_dup_{k} AS (INSERT INTO {} (n) SELECT 1 WHERE CASE WHEN (SELECT count(*) <> count(DISTINCT {key}) FROM {p}) \
             THEN {}.upsert_affects_row_twice() ELSE false END)",
            spec.sink(),
            spec.mirror.schema
        ),
        insert_new(&format!("DO UPDATE SET {set_text}{where_action}")),
        update(&active, "", "sy_ua"),
    ];
    let mut parts = vec![format!("sy_n_{k}"), format!("sy_ua_{k}")];
    match list.assigned.iter().find(|(c, _)| c == "status") {
        None => {
            ctes.push(update(&archived, "", "sy_ur"));
            parts.push(format!("sy_ur_{k}"));
        }
        Some((_, status)) => {
            ctes.push(update(&archived, &format!(" AND ({status}) IS NOT DISTINCT FROM 'done'"), "sy_ur"));
            let image = set_list::image(cx, &list.assigned, alias).join(", ");
            let moved = set_list::moved_columns(cx, &list.assigned);
            let depth = &spec.derived.depth.column;
            ctes.push(format!(
                "sy_mo_{k} AS (DELETE FROM {archived} AS {alias} USING {p} AS excluded \
                 WHERE {matched} AND ({status}) IS DISTINCT FROM 'done' RETURNING {image}, {alias}.{depth} AS sy_depth)"
            ));
            ctes.push(format!(
                "sy_mi_{k} AS (INSERT INTO {active} AS {alias} ({moved}, {depth}) SELECT {moved}, sy_depth FROM sy_mo_{k} \
                 RETURNING {row_list})"
            ));
            parts.extend([format!("sy_ur_{k}"), format!("sy_mi_{k}")]);
        }
    }
    let union: Vec<String> = parts.iter().map(|p| format!("SELECT * FROM {p}")).collect();
    ctes.push(format!("sy_rows_{k} AS ({})", union.join(" UNION ALL ")));
    Ok(Some(ctes.join(", ")))
}

/// Finds `ON CONFLICT [(<legacy key>)] DO NOTHING | DO UPDATE SET`; refuses
/// conflict targets other than the legacy key. `None`: DO UPDATE without a
/// target (PostgreSQL rejects it on either table).
fn parse_conflict(cx: &Ctx<'_>, toks: &[(usize, i32)]) -> Result<Option<Conflict>, Unsupported> {
    let Some(on) =
        toks.iter().find(|(i, d)| *d == 0 && cx.word(*i, "on") && cx.word(i + 1, "conflict")).map(|(i, _)| *i)
    else {
        return Err(unsupported("an ON CONFLICT clause the rewriter cannot find"));
    };
    let mut at = on + 2;
    if cx.word(at, "on") {
        return Err(unsupported("INSERT INTO todos ... ON CONFLICT ON CONSTRAINT in write_new/new_only"));
    }
    let has_target = cx.toks.get(at).map(|t| t.kind) == Some(lex::Kind::Open);
    if has_target {
        let (cols, close) = target_columns(cx, at + 1)?;
        if cx.word(close + 1, "where") {
            return Err(unsupported("ON CONFLICT (...) WHERE in write_new/new_only"));
        }
        let mut want = cx.spec.legacy.key.clone();
        want.sort();
        let mut cols = cols;
        cols.sort();
        if cols != want {
            return Err(unsupported(format!("ON CONFLICT ({}) on todos in write_new/new_only", cols.join(", "))));
        }
        at = close + 1;
    }
    let action = if cx.word(at, "do") && cx.word(at + 1, "nothing") {
        Action::Nothing
    } else if cx.word(at, "do") && cx.word(at + 1, "update") && cx.word(at + 2, "set") {
        if !has_target {
            return Ok(None);
        }
        Action::Update { set: at + 2 }
    } else {
        return Err(unsupported("an ON CONFLICT action other than DO NOTHING or DO UPDATE SET"));
    };
    Ok(Some(Conflict { start: cx.toks[on].start, action }))
}

/// The column names of a conflict target starting at token `first` (after
/// its `(`), and the index of its `)`.
fn target_columns(cx: &Ctx<'_>, first: usize) -> Result<(Vec<String>, usize), Unsupported> {
    let mut j = first;
    let mut cols = Vec::new();
    while let Some(t) = cx.toks.get(j) {
        match t.kind {
            lex::Kind::Close => return Ok((cols, j)),
            lex::Kind::Comma => {}
            _ => match lex::ident_value(cx.src, t) {
                Some(v) => cols.push(v),
                None => return Err(unsupported("an ON CONFLICT target with expressions in write_new/new_only")),
            },
        }
        j += 1;
    }
    Err(unsupported("an unterminated ON CONFLICT target"))
}
