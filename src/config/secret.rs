//! Values of herald.yaml that may hold `${ENV_VAR}`: the expanded text is used, the text as
//! written is what anyone sees. A `Secret` never prints its value: not in `Debug`, not in
//! `Display`, not in an error (docs/channels.md, "Secrets").

use std::fmt;

/// A setting read from herald.yaml with its `${VAR}`s replaced from the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// As written in the file: `${VAR}` where the environment filled in a value.
    written: String,
}

impl Secret {
    /// A value with no variable in it (tests, defaults).
    pub fn plain(value: impl Into<String>) -> Secret {
        let value = value.into();
        Secret { written: value.clone(), value }
    }

    /// The value itself, for the one place that needs it (a signature, a request's auth).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The value as written, with `${VAR}` in place of what came from the environment.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// Whether any part of it came from the environment.
    pub fn from_env(&self) -> bool {
        self.value != self.written || self.written.contains("${")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.written)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// Why `${…}` in a value could not be filled in: the variable's name, or a malformed reference.
#[derive(Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` with no such variable; the byte range of the reference in the value.
    Missing { name: String, at: std::ops::Range<usize> },
    /// `${` with no `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    Malformed { at: std::ops::Range<usize> },
}

/// Replaces every `${NAME}` in `text` with the variable's value as `env` gives it. `$$` is a
/// literal `$`. Every problem is reported, not only the first.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, Vec<ExpandError>> {
    let mut value = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        value.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            value.push('$');
            offset += i + 2;
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            value.push('$');
            offset += i + 1;
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            errors.push(ExpandError::Malformed { at: offset + i..offset + rest.len() });
            rest = "";
            break;
        };
        let name = &body[..end];
        let at = offset + i..offset + i + end + 3;
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(ExpandError::Malformed { at });
        } else {
            match env(name) {
                Some(v) => value.push_str(&v),
                None => errors.push(ExpandError::Missing { name: name.to_string(), at }),
            }
        }
        offset += i + end + 3;
        rest = &body[end + 1..];
    }
    value.push_str(rest);
    if errors.is_empty() { Ok(Secret { value, written: text.to_string() }) } else { Err(errors) }
}

/// The process environment, for `expand`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_filled_in_and_never_shown() {
        let secret = expand("smtps://u:${TOKEN}@mail.example:465", &env).unwrap();
        assert_eq!(secret.expose(), "smtps://u:s3cr3t@mail.example:465");
        assert_eq!(secret.to_string(), "smtps://u:${TOKEN}@mail.example:465");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert!(secret.from_env());
        assert!(!expand("plain", &env).unwrap().from_env());
        assert_eq!(expand("a$$b$c${EMPTY}", &env).unwrap().expose(), "a$b$c");
    }

    #[test]
    fn every_missing_or_malformed_reference_is_reported_with_its_place() {
        let errors = expand("${NOPE}-${TOKEN}-${1BAD}-${OPEN", &env).unwrap_err();
        assert_eq!(
            errors,
            vec![
                ExpandError::Missing { name: "NOPE".into(), at: 0..7 },
                ExpandError::Malformed { at: 17..24 },
                ExpandError::Malformed { at: 25..31 },
            ]
        );
    }
}
