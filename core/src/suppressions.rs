//! Suppression rules, as sanitizers have them: a file of rules for findings to ignore
//! (a library you cannot change, such as cuBLAS making small pageable copies on purpose).
//!
//! One rule per line; `#` starts a comment. A rule is one or more conditions separated
//! by spaces, all of which must hold:
//!
//! ```text
//! function:cublas*                 a frame's function matches the glob
//! module:*libcublasLt.so*          a frame's module (shared object path) matches
//! source:*/third_party/*           a frame's source file matches
//! api:cuMemcpyDtoHAsync*           the CUDA function that made the copy
//! dir:D2H                          the direction: H2D, D2H, H2H or D2D
//! kind:pageable                    the finding: pageable, straddles or captured
//! ```
//!
//! A frame condition holds when any frame of the site's stack matches it. A suppressed
//! site is counted in the summary (`suppressed`), not reported.

use crate::glob;

/// What a rule is matched against: one call site.
pub struct SiteFacts<'a> {
    pub api: &'a str,
    pub dir: &'a str,
    pub kind: &'a str,
    /// `(function, module, source file)` of each frame; empty strings where unknown.
    pub frames: &'a [(&'a str, &'a str, &'a str)],
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    Function(String),
    Module(String),
    Source(String),
    Api(String),
    Dir(String),
    Kind(String),
}

impl Condition {
    fn holds(&self, site: &SiteFacts<'_>) -> bool {
        let any_frame = |part: usize, g: &str| site.frames.iter().any(|f| glob::matches(g, [f.0, f.1, f.2][part]));
        match self {
            Condition::Function(g) => any_frame(0, g),
            Condition::Module(g) => any_frame(1, g),
            Condition::Source(g) => any_frame(2, g),
            Condition::Api(g) => glob::matches(g, site.api),
            Condition::Dir(d) => d == site.dir,
            Condition::Kind(k) => k == site.kind,
        }
    }
}

/// The rules of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suppressions {
    rules: Vec<Vec<Condition>>,
}

impl Suppressions {
    /// Parses a rules file. `Err` names the first bad line.
    pub fn parse(text: &str) -> Result<Suppressions, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut rule = Vec::new();
            for word in line.split_whitespace() {
                let Some((kind, value)) = word.split_once(':') else {
                    return Err(format!("line {}: '{word}' is not kind:pattern", n + 1));
                };
                let v = value.to_string();
                rule.push(match kind {
                    "function" | "fun" => Condition::Function(v),
                    "module" | "lib" => Condition::Module(v),
                    "source" | "src" => Condition::Source(v),
                    "api" => Condition::Api(v),
                    "dir" if ["H2D", "D2H", "H2H", "D2D"].contains(&value) => Condition::Dir(v),
                    "kind" if ["pageable", "straddles", "captured", "released_while_registered", "pinned_churn"].contains(&value) => {
                        Condition::Kind(v)
                    }
                    "dir" => return Err(format!("line {}: dir is H2D, D2H, H2H or D2D, not '{value}'", n + 1)),
                    "kind" => {
                        return Err(format!(
                            "line {}: kind is pageable, straddles, captured, released_while_registered or pinned_churn, not '{value}'",
                            n + 1
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "line {}: unknown condition '{kind}' (function, module, source, api, dir, kind)",
                            n + 1
                        ));
                    }
                });
            }
            rules.push(rule);
        }
        Ok(Suppressions { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The index of the first rule that suppresses `site`.
    pub fn matching(&self, site: &SiteFacts<'_>) -> Option<usize> {
        self.rules.iter().position(|rule| rule.iter().all(|c| c.holds(site)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site<'a>(api: &'a str, dir: &'a str, frames: &'a [(&'a str, &'a str, &'a str)]) -> SiteFacts<'a> {
        SiteFacts { api, dir, kind: "pageable", frames }
    }

    #[test]
    fn rules_match_exactly_the_sites_they_name() {
        let s = Suppressions::parse(
            "# cuBLAS copies small results back on purpose\nmodule:*libcublas* dir:D2H\n\nfunction:legacy_* api:cudaMemcpyAsync  # ours\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        let blas = [("cublasSgemm", "/usr/lib/libcublas.so.13", ""), ("main", "./app", "app.cpp")];
        assert_eq!(s.matching(&site("cuMemcpyDtoHAsync_v2", "D2H", &blas)), Some(0));
        assert_eq!(s.matching(&site("cuMemcpyHtoDAsync_v2", "H2D", &blas)), None, "direction differs");
        let legacy = [("legacy_upload", "./app", "legacy.cpp")];
        assert_eq!(s.matching(&site("cudaMemcpyAsync", "H2D", &legacy)), Some(1));
        assert_eq!(s.matching(&site("cudaMemcpy2DAsync", "H2D", &legacy)), None, "api differs");
        assert_eq!(s.matching(&site("cudaMemcpyAsync", "H2D", &[("main", "./app", "app.cpp")])), None);
        let third = Suppressions::parse("source:*/third_party/*").unwrap();
        assert_eq!(third.matching(&site("x", "H2D", &[("f", "m", "src/third_party/a.cc")])), Some(0));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(Suppressions::parse("dir:up").unwrap_err(), "line 1: dir is H2D, D2H, H2H or D2D, not 'up'");
        assert!(Suppressions::parse("ok:1").unwrap_err().contains("unknown condition 'ok'"));
        assert!(Suppressions::parse("\nfunction").unwrap_err().starts_with("line 2:"));
        assert!(Suppressions::parse("").unwrap().is_empty());
    }
}
