//! `tollgate keys`: one module per verb.

mod export;
mod generate;
mod import;
mod jwks;
mod list;
mod prune;
mod retire;
mod rotate;
