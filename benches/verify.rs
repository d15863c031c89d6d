//! Verify-path benchmark: a placeholder until it lands from the main branch.
fn main() {}
