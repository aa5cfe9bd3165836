//! Variable interpolation as Compose and Dockerfiles do it, and `.env` files.
//!
//! `${NAME}`, `$NAME`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
//! `${NAME?error}`, `${NAME:+alt}`, `${NAME+alt}`, with defaults interpolated in turn. Compose
//! escapes `$` as `$$`; a Dockerfile as `\$` (or its escape character). Unlike both tools, a
//! variable without a value is an error: an image reference with a hole in it is no image.

use std::collections::BTreeMap;

/// The two dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `$$` is a literal `$`.
    Compose,
    /// The escape character before `$` makes it literal.
    Dockerfile { escape: char },
}

/// Why interpolation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A variable has no value and no default.
    Unset(String),
    /// `${NAME:?message}` fired.
    Required(String, String),
    /// Bad syntax.
    Syntax(String),
    /// The result grew past the bound.
    TooLong(usize),
}

/// Interpolates `input`; `lookup` gives a variable's value, None when unset.
pub(crate) fn interpolate(
    input: &str,
    dialect: Dialect,
    lookup: &dyn Fn(&str) -> Option<String>,
    max: usize,
) -> Result<String, Failure> {
    let mut out = String::new();
    expand(input, dialect, lookup, max, 0, &mut out)?;
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn push_bounded(out: &mut String, s: &str, max: usize) -> Result<(), Failure> {
    if out.len() + s.len() > max {
        return Err(Failure::TooLong(max));
    }
    out.push_str(s);
    Ok(())
}

fn expand(
    input: &str,
    dialect: Dialect,
    lookup: &dyn Fn(&str) -> Option<String>,
    max: usize,
    depth: usize,
    out: &mut String,
) -> Result<(), Failure> {
    if depth > 16 {
        return Err(Failure::Syntax("defaults nested more than 16 deep".into()));
    }
    let mut chars = input.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Dialect::Dockerfile { escape } = dialect
            && c == escape
            && matches!(chars.peek(), Some((_, '$')))
        {
            chars.next();
            push_bounded(out, "$", max)?;
            continue;
        }
        if c != '$' {
            let mut buf = [0u8; 4];
            push_bounded(out, c.encode_utf8(&mut buf), max)?;
            continue;
        }
        match chars.peek().copied() {
            Some((_, '$')) if dialect == Dialect::Compose => {
                chars.next();
                push_bounded(out, "$", max)?;
            }
            Some((_, '{')) => {
                chars.next();
                let body_start = i + 2;
                let mut level = 1usize;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    match d {
                        '{' => level += 1,
                        '}' => {
                            level -= 1;
                            if level == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end =
                    end.ok_or_else(|| Failure::Syntax(format!("unclosed ${{ in {input:?}")))?;
                braced(&input[body_start..end], dialect, lookup, max, depth, out)?;
            }
            Some((_, n)) if is_name_start(n) => {
                let start = i + 1;
                let mut stop = input.len();
                while let Some((j, d)) = chars.peek().copied() {
                    if is_name_char(d) {
                        chars.next();
                    } else {
                        stop = j;
                        break;
                    }
                }
                let name = &input[start..stop];
                let value = lookup(name).ok_or_else(|| Failure::Unset(name.to_string()))?;
                push_bounded(out, &value, max)?;
            }
            _ => match dialect {
                // Compose refuses a lone `$`; a shell keeps it.
                Dialect::Compose => {
                    return Err(Failure::Syntax(format!(
                        "a lone $ in {input:?} (write $$ for a literal $)"
                    )));
                }
                Dialect::Dockerfile { .. } => push_bounded(out, "$", max)?,
            },
        }
    }
    Ok(())
}

fn braced(
    body: &str,
    dialect: Dialect,
    lookup: &dyn Fn(&str) -> Option<String>,
    max: usize,
    depth: usize,
    out: &mut String,
) -> Result<(), Failure> {
    let name_len = body
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(Failure::Syntax(format!(
            "invalid variable name in ${{{body}}}"
        )));
    }
    let rest = &body[name_len..];
    let value = lookup(name);
    let set = value.is_some();
    let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (op, word) = if rest.is_empty() {
        ("", "")
    } else if let Some(w) = rest.strip_prefix(":-") {
        (":-", w)
    } else if let Some(w) = rest.strip_prefix(":?") {
        (":?", w)
    } else if let Some(w) = rest.strip_prefix(":+") {
        (":+", w)
    } else if let Some(w) = rest.strip_prefix('-') {
        ("-", w)
    } else if let Some(w) = rest.strip_prefix('?') {
        ("?", w)
    } else if let Some(w) = rest.strip_prefix('+') {
        ("+", w)
    } else {
        return Err(Failure::Syntax(format!(
            "unsupported modifier in ${{{body}}} (supported: :- - :? ? :+ +)"
        )));
    };
    let expand_word = |out: &mut String| expand(word, dialect, lookup, max, depth + 1, out);
    match op {
        "" => push_bounded(out, &value.ok_or_else(|| Failure::Unset(name.into()))?, max),
        ":-" if nonempty => push_bounded(out, value.as_deref().unwrap_or(""), max),
        "-" if set => push_bounded(out, value.as_deref().unwrap_or(""), max),
        ":-" | "-" => expand_word(out),
        ":?" if nonempty => push_bounded(out, value.as_deref().unwrap_or(""), max),
        "?" if set => push_bounded(out, value.as_deref().unwrap_or(""), max),
        ":?" | "?" => {
            let mut message = String::new();
            expand(word, dialect, lookup, max, depth + 1, &mut message)?;
            Err(Failure::Required(name.into(), message))
        }
        ":+" if nonempty => expand_word(out),
        "+" if set => expand_word(out),
        _ => Ok(()),
    }
}

/// Parses a `.env` file: `NAME=value` lines, `export ` allowed, `#` comments, values bare
/// (inline ` #` comments cut), single-quoted (literal) or double-quoted (`\n`, `\"`, `\\`
/// escapes; may span lines). Bare and double-quoted values interpolate earlier names and
/// `env`. Returns the variables, or the 1-based line of the first problem.
pub(crate) fn parse_dotenv(
    text: &str,
    env: &BTreeMap<String, String>,
    max: usize,
) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err((number, format!("expected NAME=value, found {line:?}")));
        };
        let name = name.trim();
        if name.is_empty()
            || !name.starts_with(is_name_start)
            || !name
                .chars()
                .all(|c| is_name_char(c) || c == '.' || c == '-')
        {
            return Err((number, format!("invalid variable name {name:?}")));
        }
        let value = value.trim_start();
        let lookup = |n: &str| env.get(n).or_else(|| vars.get(n)).cloned();
        let parsed = if let Some(rest) = value.strip_prefix('\'') {
            let Some(end) = rest.find('\'') else {
                return Err((number, "unclosed single quote".into()));
            };
            rest[..end].to_string()
        } else if let Some(rest) = value.strip_prefix('"') {
            let mut raw = String::new();
            let mut body = rest.to_string();
            loop {
                if let Some(end) = closing_double_quote(&body) {
                    raw.push_str(&body[..end]);
                    break;
                }
                raw.push_str(&body);
                raw.push('\n');
                if i >= lines.len() {
                    return Err((number, "unclosed double quote".into()));
                }
                body = lines[i].to_string();
                i += 1;
            }
            let unescaped = unescape_double(&raw);
            interpolate(&unescaped, Dialect::Compose, &lookup, max)
                .map_err(|f| (number, describe(&f)))?
        } else {
            let bare = match value.find(" #") {
                Some(c) => &value[..c],
                None => value,
            };
            interpolate(bare.trim_end(), Dialect::Compose, &lookup, max)
                .map_err(|f| (number, describe(&f)))?
        };
        vars.insert(name.to_string(), parsed);
    }
    Ok(vars)
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A failure in words, for Compose files.
pub(crate) fn describe(f: &Failure) -> String {
    match f {
        Failure::Unset(name) => format!(
            "variable {name} is not set (set it in the environment or in .env beside the file, or give a default: ${{{name}:-…}})"
        ),
        Failure::Required(name, message) => {
            format!("required variable {name} is missing: {message}")
        }
        Failure::Syntax(s) => format!("invalid interpolation: {s}"),
        Failure::TooLong(max) => format!("interpolation makes a value longer than {max} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compose(s: &str, vars: &[(&str, &str)]) -> Result<String, Failure> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        interpolate(s, Dialect::Compose, &|n| map.get(n).cloned(), 1 << 16)
    }

    #[test]
    fn compose_forms() {
        let vars = [("REG", "ghcr.io/acme"), ("TAG", "1.4"), ("EMPTY", "")];
        assert_eq!(
            compose("${REG}/api:${TAG}", &vars).as_deref(),
            Ok("ghcr.io/acme/api:1.4")
        );
        assert_eq!(
            compose("$REG/api", &vars).as_deref(),
            Ok("ghcr.io/acme/api")
        );
        assert_eq!(compose("a:${EMPTY:-d}", &vars).as_deref(), Ok("a:d"));
        assert_eq!(compose("a:${EMPTY-d}", &vars).as_deref(), Ok("a:"));
        assert_eq!(compose("a:${NOPE-d}", &vars).as_deref(), Ok("a:d"));
        assert_eq!(compose("a:${NOPE:-${TAG}}", &vars).as_deref(), Ok("a:1.4"));
        assert_eq!(compose("a:${TAG:+x}", &vars).as_deref(), Ok("a:x"));
        assert_eq!(compose("a$$b", &vars).as_deref(), Ok("a$b"));
        assert_eq!(
            compose("${NOPE}", &vars),
            Err(Failure::Unset("NOPE".into()))
        );
        assert_eq!(
            compose("${NOPE:?set NOPE}", &vars),
            Err(Failure::Required("NOPE".into(), "set NOPE".into()))
        );
        assert!(matches!(compose("${TAG", &vars), Err(Failure::Syntax(_))));
        assert!(matches!(compose("a$", &vars), Err(Failure::Syntax(_))));
    }

    #[test]
    fn bounded_growth() {
        let big = "x".repeat(1000);
        let map: BTreeMap<String, String> = [("A".to_string(), big)].into();
        let r = interpolate(
            &"$A".repeat(100),
            Dialect::Compose,
            &|n| map.get(n).cloned(),
            4096,
        );
        assert_eq!(r, Err(Failure::TooLong(4096)));
    }

    #[test]
    fn dotenv_forms() {
        let env = BTreeMap::new();
        let text =
            "# c\nexport REG=ghcr.io/acme # comment\nTAG='1.4 $x'\nQ=\"a\\\"b\"\nR=${REG}/r\n";
        let vars = parse_dotenv(text, &env, 4096).expect("parses");
        assert_eq!(vars["REG"], "ghcr.io/acme");
        assert_eq!(vars["TAG"], "1.4 $x");
        assert_eq!(vars["Q"], "a\"b");
        assert_eq!(vars["R"], "ghcr.io/acme/r");
        assert_eq!(
            parse_dotenv("oops\n", &env, 4096).map(|_| ()),
            Err((1, "expected NAME=value, found \"oops\"".into()))
        );
    }
}
