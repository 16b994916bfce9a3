//! The vocabulary of the legacy app's fake data: todo titles, subtask
//! steps, tags and project names, shared by the seed loader and the
//! workload's generator so both write todos that look alike.

/// Root todo titles.
pub const TITLES: &[&str] = &[
    "Write quarterly report",
    "Plan sprint",
    "Fix login bug",
    "Review pull request",
    "Call the dentist",
    "Buy groceries",
    "Prepare slides",
    "Update dependencies",
    "Book flights",
    "Renew passport",
    "Draft blog post",
    "Refactor billing module",
    "Water the plants",
    "Pay electricity bill",
    "Read chapter 4",
];
/// Steps of an AI-generated subtask.
pub const SUBTASKS: &[&str] = &["Research", "Outline", "First draft", "Get feedback", "Polish", "Ship", "Follow up"];
/// Tags, one to three a todo.
pub const TAGS: &[&str] = &["work", "home", "urgent", "errand", "health", "finance", "reading", "ai"];
/// Project names.
pub const PROJECTS: &[&str] = &["Work", "Home", "Side project", "Travel", "Learning"];
