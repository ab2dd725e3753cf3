//! Compile Go RE2 patterns (as written in CRD `pattern` fields and CEL regex arguments) with the `regex` crate.

use regex::Regex;

/// Compiles a Go RE2 pattern. The syntaxes are nearly identical; the one semantic difference that matters here is
/// that RE2's Perl classes (`\d`, `\w`, `\s` and their negations) are ASCII-only, so they are rewritten to ASCII
/// classes before compiling.
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&asciify_perl_classes(pattern))
}

fn asciify_perl_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('s') => out.push_str("[\\t\\n\\f\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_only() {
        let re = compile(r"^\d+$").unwrap();
        assert!(re.is_match("123"));
        assert!(
            !re.is_match("١٢٣"),
            "Arabic-Indic digits are not \\d in RE2"
        );
        let in_class = compile(r"^[\d.]+$").unwrap();
        assert!(in_class.is_match("1.5"));
        assert!(!in_class.is_match("1a"));
        let escaped = compile(r"^\\d$").unwrap();
        assert!(escaped.is_match(r"\d"));
    }

    #[test]
    fn empty_alternatives_compile_like_re2() {
        let re = compile(r"^([1-9]||[1-5][0-7]|58)Ti$").unwrap();
        assert!(re.is_match("Ti"));
        assert!(re.is_match("57Ti"));
        assert!(!re.is_match("59Ti"));
    }
}
