//! pinguard's reports: reading the JSON Lines files processes write
//! ([`read`]), merging them into one run ([`merge`]), and rendering it ([`render`]).
//! The schema is `pinguard_core::events` and `docs/report-format.md`.

pub mod merge;
pub mod read;
pub mod render;
