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

/// The names every CTE of one site shares.
struct Upsert<'c, 'a> {
    cx: &'c Ctx<'a>,
    /// The site's number, suffixing every CTE name.
    k: usize,
    alias: &'c str,
    row_list: &'c str,
    /// The legacy key column.
    key: &'c str,
    active: String,
    archived: String,
    /// The name of the CTE of the proposed rows, `sy_p_{k}`.
    p: String,
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
    let u = Upsert {
        cx,
        k,
        alias,
        row_list,
        key,
        active: format!("{}.{}", spec.new.schema, spec.new.active.table),
        archived: format!("{}.{}", spec.new.schema, spec.new.archived.table),
        p: format!("sy_p_{k}"),
    };
    let proposed = u.proposed(site, reads, conflict.start)?;
    match conflict.action {
        Action::Nothing => {
            Ok(Some(format!("{proposed}, {}, sy_rows_{k} AS (SELECT * FROM sy_n_{k})", u.insert_new("DO NOTHING"))))
        }
        Action::Update { set } => u.do_update(toks, site, reads, set, proposed).map(Some),
    }
}

impl Upsert<'_, '_> {
    /// `sy_p_{k}`: the client's INSERT up to its ON CONFLICT (which starts
    /// at byte `conflict_start`), aimed at the proposed-rows view.
    fn proposed(&self, site: &Site, reads: &[Edit], conflict_start: usize) -> Result<String, Unsupported> {
        let (cx, alias) = (self.cx, self.alias);
        let mut head_edits: Vec<Edit> =
            reads.iter().filter(|e| e.start >= site.start && e.end <= conflict_start).cloned().collect();
        let view = cx.spec.proposed_view();
        head_edits.push(match &site.target.alias {
            Some(_) => Edit::new(site.target.start, site.target.end, view),
            None => Edit::new(site.target.start, site.target.end, format!("{view} AS {alias}")),
        });
        let head = render(cx.src, site.start, conflict_start, &head_edits).map_err(|e| unsupported(e.to_string()))?;
        Ok(format!("{} AS ({} RETURNING {alias}.*)", self.p, head.trim_end()))
    }

    /// `sy_n_{k}`: the proposed rows whose key is in neither new table,
    /// inserted into the active one with the client's conflict `action`.
    fn insert_new(&self, action: &str) -> String {
        let Upsert { cx, k, alias, row_list, key, active, archived, p } = self;
        let cols = cx.spec.columns.legacy.join(", ");
        let exists = format!(
            "EXISTS (SELECT 1 FROM {active} sy_x WHERE sy_x.{key} = {p}.{key}) \
             OR EXISTS (SELECT 1 FROM {archived} sy_x WHERE sy_x.{key} = {p}.{key})"
        );
        format!(
            "sy_n_{k} AS (INSERT INTO {active} AS {alias} ({cols}) SELECT {cols} FROM {p} WHERE NOT ({exists}) \
             ON CONFLICT ({}) {action} RETURNING {row_list})",
            cx.spec.new.active.key.join(", ")
        )
    }

    /// `{name}_{k}`: the client's SET applied to the rows of `table` that
    /// `matched` a proposed row, narrowed by `extra`.
    fn update(&self, table: &str, set_text: &str, matched: &str, extra: &str, name: &str) -> String {
        let Upsert { k, alias, row_list, p, .. } = self;
        format!(
            "{name}_{k} AS (UPDATE {table} AS {alias} SET {set_text} FROM {p} AS excluded \
             WHERE {matched}{extra} RETURNING {row_list})"
        )
    }

    /// The CTEs of `ON CONFLICT (key) DO UPDATE SET ...` (`set` is the token
    /// index of SET), after the `proposed` one.
    fn do_update(
        &self,
        toks: &[(usize, i32)],
        site: &Site,
        reads: &[Edit],
        set: usize,
        proposed: String,
    ) -> Result<String, Unsupported> {
        let Upsert { cx, k, alias, key, active, archived, p, .. } = self;
        let spec = cx.spec;
        let list = set_list::parse(cx, toks, set, site.end, reads)?;
        let partition_key = &spec.new.partition_key;
        if let Some((c, _)) = list.assigned.iter().find(|(c, _)| c == key || c == partition_key) {
            return Err(unsupported(format!("ON CONFLICT DO UPDATE SET {c} on todos in write_new/new_only")));
        }
        let mut set_edits: Vec<Edit> = reads.to_vec();
        if let Some(touch) = &spec.legacy.touch_on_update {
            set_edits.extend(touch_edits(cx, toks, set, site.end, touch)?);
        }
        let set_text =
            render(cx.src, cx.toks[set].end, list.end, &set_edits).map_err(|e| unsupported(e.to_string()))?;
        let set_text = set_text.trim();
        let cond = match list.where_kw {
            Some(w) => set_list::piece(cx, reads, cx.toks[w].end, list.ret_kw.map_or(site.end, |i| cx.toks[i].start))?
                .trim()
                .to_string(),
            None => "true".to_string(),
        };
        let matched = format!("{alias}.{key} = excluded.{key} AND ({cond})");
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
            self.insert_new(&format!("DO UPDATE SET {set_text}{where_action}")),
            self.update(active, set_text, &matched, "", "sy_ua"),
        ];
        let mut parts = vec![format!("sy_n_{k}"), format!("sy_ua_{k}")];
        match list.assigned.iter().find(|(c, _)| c == "status") {
            None => {
                ctes.push(self.update(archived, set_text, &matched, "", "sy_ur"));
                parts.push(format!("sy_ur_{k}"));
            }
            Some((_, status)) => {
                ctes.extend(self.archived_by_status(&list.assigned, status, set_text, &matched));
                parts.extend([format!("sy_ur_{k}"), format!("sy_mi_{k}")]);
            }
        }
        let union: Vec<String> = parts.iter().map(|p| format!("SELECT * FROM {p}")).collect();
        ctes.push(format!("sy_rows_{k} AS ({})", union.join(" UNION ALL ")));
        Ok(ctes.join(", "))
    }

    /// When the SET assigns `status`, archived rows that stay done are
    /// updated in place (`sy_ur_{k}`); the others are reopened: deleted from
    /// the archive (`sy_mo_{k}`) and inserted, updated, into the active
    /// table (`sy_mi_{k}`).
    fn archived_by_status(
        &self,
        assigned: &[(String, String)],
        status: &str,
        set_text: &str,
        matched: &str,
    ) -> [String; 3] {
        let Upsert { cx, k, alias, row_list, active, archived, p, .. } = self;
        let image = set_list::image(cx, assigned, alias).join(", ");
        let moved = set_list::moved_columns(cx, assigned);
        let depth = &cx.spec.derived.depth.column;
        [
            self.update(archived, set_text, matched, &format!(" AND ({status}) IS NOT DISTINCT FROM 'done'"), "sy_ur"),
            format!(
                "sy_mo_{k} AS (DELETE FROM {archived} AS {alias} USING {p} AS excluded \
                 WHERE {matched} AND ({status}) IS DISTINCT FROM 'done' RETURNING {image}, {alias}.{depth} AS sy_depth)"
            ),
            format!(
                "sy_mi_{k} AS (INSERT INTO {active} AS {alias} ({moved}, {depth}) SELECT {moved}, sy_depth FROM sy_mo_{k} \
                 RETURNING {row_list})"
            ),
        ]
    }
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
