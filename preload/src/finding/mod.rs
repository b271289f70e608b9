//! What a hook does with a call: the gate at its top, the classification, the call of
//! the real function, the finding, its site, the report line and the summary at exit.

pub mod pinning;
pub mod released;
pub mod intercept;
pub mod gate;
pub mod report_file;
pub mod finish;
pub mod sites;
pub mod describe;
pub mod oracle;
pub mod capture;
pub mod pinnings;
