//! Criterion benchmarks (numbers in docs/benchmarks.md, "Rewriter"):
//! fast-path classification of statements that do not touch todos (target
//! under 1 µs), parse plus rewrite on a cache miss (under 100 µs), a cache
//! hit (under 2 µs).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_rewriter::{planner, MigrationSpec, Phase, Rewriter};

const NON_TODOS: &[&str] = &[
    "SELECT users.id, users.email, users.name, users.created_at FROM users WHERE users.email = $1::VARCHAR",
    "INSERT INTO files (todo_id, user_id, filename, size_bytes) VALUES ($1::UUID, $2::UUID, $3::VARCHAR, $4::BIGINT) RETURNING files.id, files.created_at",
    "BEGIN",
    "SELECT projects.id, projects.name FROM projects WHERE projects.user_id = $1 ORDER BY projects.created_at",
];

const LIST: &str =
    "SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, \
    todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, \
    todos.updated_at, todos.completed_at FROM todos WHERE todos.user_id = $1::UUID ORDER BY todos.priority DESC, \
    todos.created_at DESC LIMIT $2::INTEGER OFFSET $3::INTEGER";
const UPDATE: &str = "UPDATE todos SET status=$1::VARCHAR, updated_at=now() WHERE todos.id = $2::UUID";

fn bench(c: &mut Criterion) {
    let rw = Rewriter::with_default_spec();
    let spec = MigrationSpec::default_todos();
    for (i, sql) in NON_TODOS.iter().enumerate() {
        c.bench_function(&format!("fast_path/non_todos_{i}"), |b| b.iter(|| rw.is_fast_passthrough(black_box(sql))));
    }
    c.bench_function("miss/read_new_list_select", |b| b.iter(|| planner::plan(&spec, Phase::ReadNew, black_box(LIST))));
    c.bench_function("miss/dual_write_update", |b| {
        b.iter(|| planner::plan(&spec, Phase::DualWrite, black_box(UPDATE)))
    });
    c.bench_function("miss/write_new_update", |b| b.iter(|| planner::plan(&spec, Phase::WriteNew, black_box(UPDATE))));
    let _ = rw.plan(Phase::ReadNew, LIST);
    let _ = rw.plan(Phase::DualWrite, UPDATE);
    c.bench_function("hit/read_new_list_select", |b| b.iter(|| rw.plan(Phase::ReadNew, black_box(LIST))));
    c.bench_function("hit/dual_write_update", |b| b.iter(|| rw.plan(Phase::DualWrite, black_box(UPDATE))));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
