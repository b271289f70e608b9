//! The gate's reading of a run: clean, findings, not watched or incomplete. One place,
//! so that `pinguard run`, `pinguard report --fail-on-findings` and every rendering say
//! the same thing about the same run, and a run pinguard knows nothing about is never
//! read as clean.

use serde::Serialize;

use crate::merge::Run;
use crate::read::{Problem, Unwatched};

/// What the user accepts on the command line.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `--baseline`: the keys of sites already known; only findings elsewhere count.
    pub baseline: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
    /// `--accept-partial`: a process killed mid-run (no summary, a cut last line) is
    /// read as far as it got.
    pub accept_partial: bool,
    /// `--allow-unwatched`: programs pinguard could not watch do not fail the gate.
    pub allow_unwatched: bool,
}

/// The result, worst first: findings are reported even where the run is also
/// incomplete; a run that is not watched or not whole is never clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Findings,
    NotWatched,
    Incomplete,
    Clean,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Findings => "findings",
            Verdict::NotWatched => "not-watched",
            Verdict::Incomplete => "incomplete",
            Verdict::Clean => "clean",
        }
    }
}

/// A run as the gate reads it.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// Findings (new ones, where the run is read against a baseline).
    pub findings: u64,
    /// Findings at sites the baseline holds.
    pub known: u64,
    /// Programs not watched that fail the gate: the main program, and any that could
    /// have made CUDA calls pinguard did not see.
    pub failing_unwatched: Vec<Unwatched>,
    /// Programs not watched that could not have used CUDA (a static binary, another
    /// architecture), or that `--allow-unwatched` accepts.
    pub other_unwatched: Vec<Unwatched>,
    /// Problems that fail the gate, and those `--accept-partial` accepts.
    pub failing_problems: Vec<Problem>,
    pub accepted_problems: Vec<Problem>,
}

impl Outcome {
    /// Reads `run`. `unwatched` are the programs it ran unwatched (from `pinguard
    /// run`'s record, or as `pinguard run` works them out); `main_pid` is the program
    /// `pinguard run` started.
    pub fn of(run: &Run, unwatched: Vec<Unwatched>, main_pid: Option<u32>, policy: &Policy) -> Outcome {
        let t = run.totals();
        let (findings, known) = (t.findings, t.known);
        let (failing_unwatched, other_unwatched): (Vec<_>, Vec<_>) = unwatched
            .into_iter()
            .partition(|u| !policy.allow_unwatched && (Some(u.pid) == main_pid || u.could_use_cuda));
        let (accepted_problems, failing_problems): (Vec<_>, Vec<_>) =
            run.problems.iter().cloned().partition(|p| policy.accept_partial && p.kind.is_partial());
        let verdict = if findings > 0 {
            Verdict::Findings
        } else if !failing_unwatched.is_empty() {
            Verdict::NotWatched
        } else if !failing_problems.is_empty() {
            Verdict::Incomplete
        } else {
            Verdict::Clean
        };
        Outcome { verdict, findings, known, failing_unwatched, other_unwatched, failing_problems, accepted_problems }
    }

    /// The outcome a run folder records (`pinguard run`'s record), else read from its
    /// reports alone.
    pub fn recorded(run: &Run, policy: &Policy) -> Outcome {
        let main = run.invocation.as_ref().map(|i| i.main_pid);
        Outcome::of(run, run.unwatched(None), main, policy)
    }

    pub fn not_watched(&self) -> bool {
        !self.failing_unwatched.is_empty()
    }

    pub fn incomplete(&self) -> bool {
        !self.failing_problems.is_empty()
    }
}
