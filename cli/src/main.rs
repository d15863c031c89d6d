//! The tollgate command: a placeholder until the CLI lands from the main branch.
fn main() {}
