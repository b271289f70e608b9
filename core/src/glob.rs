//! Shell-style globs (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`), matched without allocating:
//! used for suppression rules and for the frames a site's location passes over.

/// Does `text` match `pattern` as a whole?
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was, and how much of the text it has swallowed.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, next)) = class(p, pi, t[ti]) {
                        if hit {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == b'[' {
                        // An unclosed '[' is a literal.
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at `p[at]`: whether `c` is in it and where the pattern goes on;
/// `None` if the class is not closed.
fn class(p: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negated = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stars_classes_and_literals() {
        assert!(matches("*libcuda.so*", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"));
        assert!(matches("cuda[A-Z]*", "cudaMemcpyAsync"));
        assert!(!matches("cuda[A-Z]*", "cuda_helper"));
        assert!(matches("cu[A-Z]*", "cuMemcpyHtoDAsync_v2"));
        assert!(!matches("cu[A-Z]*", "cublasLt"));
        assert!(matches("cudart::*", "cudart::cudaApiMemcpyAsync(void*)"));
        assert!(matches("a?c", "abc") && !matches("a?c", "ac"));
        assert!(matches("[!x]y", "ay") && !matches("[!x]y", "xy"));
        assert!(matches("*", "") && matches("", "") && !matches("", "a"));
        assert!(matches("*/third_party/*", "src/third_party/x.cc"));
        assert!(matches("a[b", "a[b"), "an unclosed class is literal");
    }

    /// A naive recursive matcher for `*` and `?` only, as the model.
    fn model(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => model(&p[1..], t) || (!t.is_empty() && model(p, &t[1..])),
            (Some(b'?'), Some(_)) => model(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => model(&p[1..], &t[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_matcher(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            prop_assert_eq!(matches(&p, &t), model(p.as_bytes(), t.as_bytes()));
        }
    }
}
