//! `pinguard`'s exit codes, in one place (the README's CI section lists them).
//!
//! | code | meaning |
//! |---|---|
//! | the program's own | clean run (128 + N if a signal N ended it) |
//! | `--error-exitcode N` | a finding was made |
//! | 1 | `pinguard report --fail-on-findings`: the reports hold a finding |
//! | 2 | a bad option or setup; the program was not started |
//! | 69 | not watched: a program ran without pinguard (`--allow-unwatched` accepts it); replaces the program's exit 0 |
//! | 74 | incomplete: a report is not whole (`--accept-partial` accepts killed processes); replaces the program's exit 0 |
//! | 126 | the program cannot be executed |
//! | 127 | the program was not found |

pub const FINDINGS_REPORT: u8 = 1;
pub const USAGE: u8 = 2;
/// `EX_UNAVAILABLE` (sysexits.h): pinguard was not there to watch.
pub const NOT_WATCHED: u8 = 69;
/// `EX_IOERR` (sysexits.h): the reports could not be written or read whole.
pub const INCOMPLETE: u8 = 74;
pub const NOT_EXECUTABLE: u8 = 126;
pub const NOT_FOUND: u8 = 127;
