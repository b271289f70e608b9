//! pinguard's reports: reading the JSON Lines files processes write
//! ([`read`]), merging them into one run ([`merge`]), reading it as the gate does
//! ([`gate`]), and rendering it ([`render`]).
//! The schema is `pinguard_core::events` and `docs/report-format.md`.

pub mod baseline;
pub mod gate;
pub mod merge;
pub mod read;
pub mod render;

/// `1.2 s`, `340 ms`, `2 min 3 s`: a wall-clock duration for people.
pub fn render_duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}
