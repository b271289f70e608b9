//! Demangled C++ names, shortened for people: `void thrust::copy<thrust::detail::...>(...)`
//! is `thrust::copy<…>(…)` in a site's title (the full name stays in the stack and in
//! the report), and `thrust::copy` when `skip_frames` decides whether a frame is the
//! user's code (a return type or an argument type must not make `testSort(thrust::...)`
//! look like thrust, nor hide that `thrust::copy<...>` is).

/// Where the parts of a demangled name lie: the qualified name (without return type)
/// and the top-level parameter list, as byte ranges.
struct Parts {
    name: std::ops::Range<usize>,
    params: Option<std::ops::Range<usize>>,
}

/// Characters that open and close a nesting level.
fn opens(c: u8) -> bool {
    matches!(c, b'<' | b'(' | b'[' | b'{')
}

fn closes(c: u8) -> bool {
    matches!(c, b'>' | b')' | b']' | b'}')
}

/// The length of an `operator` spelling at `i` whose characters would otherwise read as
/// brackets (`operator<<`, `operator()`, `operator->`, ...), or 0.
fn operator_len(s: &[u8], i: usize) -> usize {
    const OPS: [&[u8]; 12] = [
        b"operator<<=",
        b"operator>>=",
        b"operator<=>",
        b"operator<<",
        b"operator>>",
        b"operator<=",
        b"operator>=",
        b"operator->",
        b"operator()",
        b"operator[]",
        b"operator<",
        b"operator>",
    ];
    OPS.iter().find(|op| s[i..].starts_with(op)).map_or(0, |op| op.len())
}

/// The bytes of `b` with their indices, an operator's bracket characters passed over
/// (`operator<` is a name, not an opening bracket).
fn significant(b: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i..].starts_with(b"operator") && operator_len(b, i) > 0 {
            i += operator_len(b, i);
        }
        let here = (i < b.len()).then(|| (i, b[i]));
        i += 1;
        here
    })
}

fn split(s: &str) -> Parts {
    let b = s.as_bytes();
    let mut depth = 0i32;
    let mut spaces = Vec::new();
    let mut last_open_paren = None;
    for (i, c) in significant(b) {
        if opens(c) {
            if depth == 0 && c == b'(' {
                last_open_paren = Some(i);
            }
            depth += 1;
        } else if closes(c) {
            depth -= 1;
        } else if c == b' ' && depth == 0 {
            spaces.push(i);
        }
    }
    // The parameter list: the last top-level `(...)` (a trailing ` const` or
    // ` [clone .isra.0]` may follow it).
    let params = last_open_paren.and_then(|open| {
        let mut d = 0;
        for (j, &c) in b.iter().enumerate().skip(open) {
            if opens(c) {
                d += 1;
            } else if closes(c) {
                d -= 1;
                if d == 0 {
                    return Some(open..j + 1);
                }
            }
        }
        None
    });
    let end = params.as_ref().map_or(b.len(), |p| p.start);
    // The return type ends at the last top-level space before the name (none for most
    // functions; `operator new` and conversion operators keep theirs).
    // A name with an operator (`operator<< <char>`, `operator new`) starts before it.
    let limit = s[..end].rfind("operator").unwrap_or(end);
    let start = spaces.iter().rev().copied().find(|&sp| sp < limit).map_or(0, |sp| sp + 1);
    Parts { name: start..end, params }
}

/// `thrust::copy<…>(…)`: template arguments and parameters elided, return type dropped;
/// a name without either is returned as it is.
pub fn short(full: &str) -> String {
    let parts = split(full);
    let mut out = elide_templates(&full[parts.name.clone()], "<…>");
    if let Some(p) = parts.params {
        out.push_str(if p.len() > 2 { "(…)" } else { "()" });
    }
    if out.is_empty() { full.to_string() } else { out }
}

/// `thrust::copy`: the qualified name alone, without templates, parameters or return
/// type (what `skip_frames` matches a function against, besides its full name).
pub fn path(full: &str) -> String {
    let parts = split(full);
    let out = elide_templates(&full[parts.name], "");
    if out.is_empty() { full.to_string() } else { out }
}

/// Replaces every outermost `<...>` (not an `operator<`) by `with`.
fn elide_templates(s: &str, with: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut depth = 0;
    let mut copied = 0;
    for (i, c) in significant(b) {
        match c {
            b'<' => {
                if depth == 0 {
                    out.push_str(&s[copied..i]);
                    out.push_str(with);
                }
                depth += 1;
            }
            b'>' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    copied = i + 1;
                }
            }
            _ => {}
        }
    }
    if depth == 0 {
        out.push_str(&s[copied..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_functions_lose_their_return_type_arguments_and_parameters() {
        let thrust = "thrust::detail::normal_iterator<thrust::device_ptr<unsigned int> > thrust::copy<thrust::detail::normal_iterator<unsigned int*>, thrust::detail::normal_iterator<thrust::device_ptr<unsigned int> > >(thrust::detail::normal_iterator<unsigned int*>, thrust::detail::normal_iterator<unsigned int*>, thrust::detail::normal_iterator<thrust::device_ptr<unsigned int> >)";
        assert_eq!(short(thrust), "thrust::copy<…>(…)");
        assert_eq!(path(thrust), "thrust::copy");
        assert_eq!(
            short("void cub::DeviceRadixSort::SortKeys<int>(void*, unsigned long&) [clone .isra.0]"),
            "cub::DeviceRadixSort::SortKeys<…>(…)"
        );
    }

    #[test]
    fn plain_names_stay_and_user_functions_are_not_mistaken_for_a_library() {
        assert_eq!(short("main"), "main");
        assert_eq!(short("upload()"), "upload()");
        let user = "testSort(thrust::host_vector<unsigned int, std::allocator<unsigned int> >&, bool)";
        assert_eq!(short(user), "testSort(…)");
        assert_eq!(path(user), "testSort");
        assert_eq!(path("at::native::copy_kernel_cuda(at::TensorIterator&, bool)"), "at::native::copy_kernel_cuda");
        assert_eq!(path("(anonymous namespace)::worker(int)"), "(anonymous namespace)::worker");
        assert_eq!(short("main::{lambda(int)#1}::operator()(int) const"), "main::{lambda(int)#1}::operator()(…)");
    }

    #[test]
    fn operators_with_brackets_are_not_nesting() {
        assert_eq!(path("bool Foo<int>::operator<(Foo<int> const&) const"), "Foo::operator<");
        assert_eq!(short("std::ostream& operator<< <char>(std::ostream&, char const*)"), "operator<< <…>(…)");
        assert_eq!(path("operator new(unsigned long)"), "operator new");
        assert_eq!(path("Foo::operator->() const"), "Foo::operator->");
    }

    #[test]
    fn damaged_names_never_panic() {
        for s in ["", "<", ">>>", "(((", "a<b(c>d)e", "operator", "x operator"] {
            let _ = (short(s), path(s));
        }
    }
}
