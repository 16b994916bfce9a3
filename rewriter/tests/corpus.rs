//! The corpus: statements written the way real applications write SQL
//! (SQLAlchemy 2.0 Core and ORM, a hand-written service layer, psql
//! sessions), each with its expected plan per phase (`corpus/*.sql`, format
//! in `corpus/README.md`), plus properties every plan must have.

use switchyard_rewriter::{planner, read, Action, CommandTag, MigrationSpec, Phase, Plan};

struct Case {
    file: &'static str,
    line: usize,
    expect: [Action; 4],
    tag: Option<CommandTag>,
    hide: Option<bool>,
    sql: String,
}

const FILES: [(&str, &str); 3] = [
    ("sqlalchemy.sql", include_str!("corpus/sqlalchemy.sql")),
    ("service.sql", include_str!("corpus/service.sql")),
    ("psql.sql", include_str!("corpus/psql.sql")),
];

const PHASES: [Phase; 4] = [Phase::DualWrite, Phase::ReadNew, Phase::WriteNew, Phase::NewOnly];

fn action(code: &str) -> Action {
    match code {
        "P" => Action::Passthrough,
        "R" => Action::Rewrite,
        "X" => Action::Refuse,
        other => panic!("bad action code {other}"),
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (file, text) in FILES {
        let mut cur: Option<Case> = None;
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if let Some(head) = line.strip_prefix("== ") {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
                let w: Vec<&str> = head.split_whitespace().collect();
                assert!(w.len() >= 4, "{file}:{}: need four phase codes", i + 1);
                let mut c = Case {
                    file,
                    line: i + 1,
                    expect: [action(w[0]), action(w[1]), action(w[2]), action(w[3])],
                    tag: None,
                    hide: None,
                    sql: String::new(),
                };
                for extra in &w[4..] {
                    match *extra {
                        "insert" => c.tag = Some(CommandTag::Insert),
                        "update" => c.tag = Some(CommandTag::Update),
                        "delete" => c.tag = Some(CommandTag::Delete),
                        // An INSERT of roots sent as a plain statement: PostgreSQL's own tag.
                        "reported" => c.tag = Some(CommandTag::AsReported),
                        "hide" => c.hide = Some(true),
                        "show" => c.hide = Some(false),
                        other => panic!("{file}:{}: unknown flag {other}", i + 1),
                    }
                }
                cur = Some(c);
            } else if let Some(c) = cur.as_mut() {
                if !c.sql.is_empty() {
                    c.sql.push('\n');
                }
                c.sql.push_str(line);
            }
        }
        if let Some(c) = cur.take() {
            out.push(c);
        }
    }
    out
}

fn placeholders(s: &str) -> Vec<String> {
    let mut v: Vec<String> = switchyard_rewriter::lex::tokens(s)
        .iter()
        .filter(|t| t.kind == switchyard_rewriter::lex::Kind::Param)
        .map(|t| t.text(s).to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Properties every plan has, whatever the statement.
fn check_properties(spec: &MigrationSpec, phase: Phase, sql: &str, p: &Plan, at: &str) {
    match p.action {
        Action::Passthrough => {
            assert_eq!(p.sql, sql, "{at}: a passthrough sends the client's bytes")
        }
        Action::Refuse => {
            assert!(p.sql.is_empty(), "{at}: nothing of a refused statement is sent");
            let r = p.reason.as_deref().unwrap_or("");
            assert!(r.starts_with("switchyard: ") && r.len() > 30, "{at}: refusal names why: {r}");
        }
        Action::Rewrite => {
            assert_eq!(placeholders(&p.sql), placeholders(sql), "{at}: placeholders keep their numbers");
            // Masked like the client's text: lock strengths and DECLARE options sqlparser lacks.
            let shown = switchyard_rewriter::mask::mask(&p.sql).text;
            let parsed = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &shown);
            assert!(parsed.is_ok(), "{at}: the rewrite parses: {:?}\n{}", parsed.err(), p.sql);
            let mirrored = p.sql.contains("sy_mirror_") || p.sql.contains("sy_plain_") || p.sql.contains("sy_rows_");
            if p.result.command_tag != CommandTag::AsReported || mirrored {
                let f = match phase {
                    Phase::WriteNew => spec.to_legacy_fn(),
                    Phase::NewOnly => spec.new_only_fn(),
                    _ => spec.to_new_fn(),
                };
                // The general function, or for the shapes that move no row
                // (docs/rewriter.md, "Mirror by shape") a cheaper form.
                let general = p.sql.contains(&format!("{f}("));
                // A lone INSERT of roots: the copy is the main query.
                let roots_copy = p.sql.trim_end().trim_end_matches(';').trim_end().ends_with(" FROM sy_rows_0");
                let cheaper = p.sql.contains(&format!("{}(", spec.in_place_fn()))
                    || p.sql.contains("sy_plain_0 AS (")
                    || roots_copy;
                let nothing_to_do = phase == Phase::NewOnly && !p.sql.contains("sy_mirror_");
                assert!(general || cheaper || nothing_to_do, "{at}: the write calls {f} or a cheaper mirror");
                if p.sql.contains("sy_mirror_") {
                    assert!(
                        p.sql.contains(&format!("INSERT INTO {} (n)", spec.sink())),
                        "{at}: the mirror runs in a DML CTE"
                    );
                }
                if phase.writes_new() {
                    let a = p.sql.find("todos_active");
                    let r = p.sql.find("todos_archived");
                    assert!(a.is_some(), "{at}: writes reach todos_active");
                    if let (Some(a), Some(r)) = (a, r) {
                        assert!(a < r, "{at}: todos_active comes first (lock order)");
                    }
                } else {
                    // The client's own write: everything before the mirror CTEs.
                    let copy = if roots_copy { p.sql.rfind(") INSERT INTO ") } else { None };
                    let own = copy.or(p.sql.find(", sy_plain_")).or(p.sql.find(", sy_mirror_")).unwrap_or(p.sql.len());
                    assert!(
                        !p.sql[..own].contains(&format!("{}.todos_active", spec.new.schema)),
                        "{at}: legacy-side writes stay on legacy"
                    );
                }
            } else if p.reason.as_deref().unwrap_or("").starts_with("insert of root todos") {
                // A lone INSERT of roots in new_only: the client's, on the new table.
                assert_eq!(phase, Phase::NewOnly, "{at}: only new_only sends an INSERT unmirrored");
                let target = format!("{}.{} as todos", spec.new.schema, spec.new.active.table);
                assert!(p.sql.to_ascii_lowercase().contains(&target), "{at}: roots go to todos_active");
                let parent = &spec.derived.depth.parent_column;
                assert!(!sql.contains(parent.as_str()), "{at}: rows that may have a parent need their depth");
            } else if p.reason.as_deref().unwrap_or("").contains("locking read") {
                let stmt = p.sql.get(p.sql.find("SELECT").min(p.sql.find("WITH")).unwrap_or(0)..).unwrap_or("");
                let branches = stmt.starts_with("WITH sy_lock_a AS (")
                    && stmt.ends_with("SELECT * FROM sy_lock_a UNION ALL SELECT * FROM sy_lock_r");
                let lateral = stmt.contains(") AS sy_c CROSS JOIN LATERAL (SELECT * FROM (SELECT ");
                assert!(branches || lateral, "{at}: one branch per table, or the locking loop: {}", p.sql);
                let a = p.sql.find("FROM public.todos_active");
                let r = p.sql.find("FROM public.todos_archived");
                assert!(a.is_some() && r.is_some() && a < r, "{at}: both tables, active first (lock order)");
            } else if p.sql.contains(" CROSS JOIN LATERAL (SELECT * FROM (SELECT ") {
                // A recursive step joined to its CTE: each table's branch
                // carries the join condition (the twin tests check the rows).
                for table in [&spec.new.active.table, &spec.new.archived.table] {
                    assert!(p.sql.contains(&format!("FROM {}.{table}) AS ", spec.new.schema)), "{at}: {table} branch");
                }
            } else {
                let u = read::union_sql(spec);
                assert!(p.sql.contains(&u), "{at}: reads become the union");
                // Byte-identical outside the spliced spans.
                let plain = !sql.contains("\"todos\"")
                    && !sql.to_ascii_lowercase().contains("public.todos")
                    && sql.contains("todos");
                if plain && !sql.contains("TODOS") && !sql.contains("ToDoS") && !sql.contains("ONLY") {
                    let back = p.sql.replace(&format!("{u} AS todos"), "todos").replace(&u, "todos");
                    assert_eq!(back, sql, "{at}: only the table references changed");
                }
            }
        }
    }
}

#[test]
fn the_corpus_has_at_least_150_statements() {
    assert!(cases().len() >= 150, "{} cases", cases().len());
}

#[test]
fn every_corpus_statement_gets_its_expected_plan_in_every_phase() {
    let spec = MigrationSpec::default_todos();
    let mut failures = Vec::new();
    for c in cases() {
        let at = format!("{}:{}", c.file, c.line);
        let legacy = planner::plan(&spec, Phase::Legacy, &c.sql);
        assert_eq!(legacy.action, Action::Passthrough, "{at}: legacy passes everything");
        for (i, phase) in PHASES.into_iter().enumerate() {
            let p = planner::plan(&spec, phase, &c.sql);
            if p.action != c.expect[i] {
                failures.push(format!(
                    "{at} [{phase}] expected {:?}, got {:?} ({})\n    {}",
                    c.expect[i],
                    p.action,
                    p.reason.as_deref().unwrap_or(""),
                    c.sql.replace('\n', " ")
                ));
                continue;
            }
            check_properties(&spec, phase, &c.sql, &p, &format!("{at} [{phase}]"));
            if p.action == Action::Rewrite {
                let r = &p.result;
                if c.tag.is_some_and(|tag| r.command_tag != tag) {
                    failures.push(format!("{at} [{phase}]: command tag {:?}, expected {:?}", r.command_tag, c.tag));
                }
                if c.hide.is_some_and(|h| r.hide_rows != h || r.client_columns.is_some() == h) {
                    failures.push(format!("{at} [{phase}]: rows hidden {}, expected {:?}", r.hide_rows, c.hide));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_read_keeps_its_alias_and_text_around_the_reference() {
    let spec = MigrationSpec::default_todos();
    let sql = "SELECT /* keep */ t.id FROM todos AS t WHERE t.user_id = $1 ORDER BY t.priority DESC";
    let p = planner::plan(&spec, Phase::ReadNew, sql);
    let u = read::union_sql(&spec);
    assert_eq!(p.sql, format!("SELECT /* keep */ t.id FROM {u} AS t WHERE t.user_id = $1 ORDER BY t.priority DESC"));
    assert!(p.shadow.is_some(), "an ordered read with no LIMIT is shadowed");
}

#[test]
fn a_write_without_returning_counts_and_hides_its_row() {
    let spec = MigrationSpec::default_todos();
    let p = planner::plan(&spec, Phase::DualWrite, "UPDATE todos SET status = $1 WHERE id = $2");
    assert_eq!(
        p.sql,
        "WITH sy_rows_0 AS (UPDATE todos SET status = $1 WHERE id = $2 RETURNING todos.*), \
         sy_mirror_0 AS (INSERT INTO switchyard.mirror_sink (n) SELECT 1 WHERE switchyard.mirror_todos('U', \
         (SELECT array_agg(sy_rows_0::public.todos) FROM sy_rows_0)) < 0) SELECT count(*) AS sy_count FROM sy_rows_0"
    );
    assert_eq!(p.result.command_tag, CommandTag::Update);
    assert!(p.result.hide_rows);
    assert_eq!(p.result.command_tag.render(3).as_deref(), Some("UPDATE 3"));
    assert_eq!(CommandTag::Insert.render(2).as_deref(), Some("INSERT 0 2"));
}

#[test]
fn write_new_emulates_the_updated_at_trigger_and_retargets_on_conflict() {
    let spec = MigrationSpec::default_todos();
    let p = planner::plan(&spec, Phase::WriteNew, "UPDATE todos SET title = $1 WHERE id = $2");
    assert!(p.sql.contains("SET title = $1, updated_at = now() WHERE id = $2"), "{}", p.sql);
    assert!(p.sql.contains("UPDATE public.todos_active AS todos"));
    assert!(p.sql.contains("UPDATE public.todos_archived AS todos"));
    let p =
        planner::plan(&spec, Phase::WriteNew, "UPDATE todos SET updated_at = '2000-01-01', title = 'x' WHERE id = $1");
    assert!(p.sql.contains("SET updated_at = now(), title = 'x' WHERE"), "{}", p.sql);
    let p = planner::plan(
        &spec,
        Phase::NewOnly,
        "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET title = excluded.title",
    );
    assert!(
        p.sql.contains("ON CONFLICT (id, user_id) DO UPDATE SET title = excluded.title, updated_at = now()"),
        "{}",
        p.sql
    );
}

#[test]
fn returning_star_keeps_the_client_list_and_dual_write_returns_full_images() {
    let spec = MigrationSpec::default_todos();
    let p = planner::plan(&spec, Phase::ReadNew, "DELETE FROM todos t WHERE t.id = $1 RETURNING t.id, t.title");
    assert!(p.sql.contains("RETURNING t.*)"), "{}", p.sql);
    assert!(p.sql.ends_with("SELECT t.id, t.title FROM sy_rows_0 AS t"), "{}", p.sql);
    assert_eq!(p.result.client_columns, Some(vec!["t.id".to_string(), "t.title".to_string()]));
    assert!(!p.result.hide_rows);
}

#[test]
fn dml_in_with_is_mirrored_by_a_dml_cte_even_when_nothing_reads_it() {
    let spec = MigrationSpec::default_todos();
    let p = planner::plan(&spec, Phase::DualWrite, "WITH gone AS (DELETE FROM todos WHERE id = $1) SELECT 1");
    assert_eq!(
        p.sql,
        "WITH sy_rows_0 AS (DELETE FROM todos WHERE id = $1 RETURNING todos.*), gone AS (SELECT 1 FROM sy_rows_0 WHERE false) , \
         sy_mirror_0 AS (INSERT INTO switchyard.mirror_sink (n) SELECT 1 WHERE switchyard.mirror_todos('D', \
         (SELECT array_agg(sy_rows_0::public.todos) FROM sy_rows_0)) < 0) SELECT 1"
    );
    assert_eq!(p.result.command_tag, CommandTag::AsReported);
}

#[test]
fn refusals_name_the_construct() {
    let spec = MigrationSpec::default_todos();
    let r = |phase, sql| planner::plan(&spec, phase, sql).reason.unwrap_or_default();
    assert!(r(Phase::DualWrite, "TRUNCATE todos").contains("TRUNCATE"));
    assert!(r(Phase::DualWrite, "COPY todos FROM STDIN").contains("COPY into todos"));
    assert!(r(Phase::ReadNew, "SELECT * FROM todos WHERE").contains("does not parse"));
    assert!(r(Phase::WriteNew, "SELECT * FROM todos t JOIN users u ON u.id = t.user_id LIMIT 1 FOR UPDATE")
        .contains("FOR UPDATE"));
    assert!(r(Phase::DualWrite, "UPDATE todos SET title = 'x' RETURNING xmax").contains("xmax"));
    assert!(r(Phase::DualWrite, "ALTER TABLE todos ADD COLUMN x int").contains("ALTER TABLE"));
}
