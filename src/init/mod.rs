//! `herald init [DIR]`: a starter project that `validate`, `simulate`, `test` and `run` accept
//! as written. The files are templates beside this one, compiled in, so that what `init` writes
//! is what the tests check.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Each file `init` writes: its path inside DIR, its text, and what it is for.
const FILES: [(&str, &str, &str); 5] = [
    (
        "herald.yaml",
        include_str!("herald.yaml"),
        "channels: `log` prints each action; twilio, smtp and webhook examples commented out",
    ),
    (
        "campaigns/welcome.yaml",
        include_str!("welcome.yaml"),
        "the campaign: a text, an A/B split, a reply await, an email",
    ),
    ("campaigns/tests/welcome.test.yaml", include_str!("welcome.test.yaml"), "its tests, one case per way through it"),
    ("contacts.csv", include_str!("contacts.csv"), "six contacts to try it on"),
    ("responses.yaml", include_str!("responses.yaml"), "how those contacts answer, for `simulate`"),
];

/// The campaign file, for the commands `init` suggests.
const CAMPAIGN: &str = "campaigns/welcome.yaml";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Nothing was written: a starter file would have replaced one of these.
    #[error("not writing the starter project: {} already there ({}); nothing was written", plural(.0.len()), list(.0))]
    Exists(Vec<PathBuf>),
    #[error("cannot create {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot create the starter project in {}: it is a file, not a folder", .0.display())]
    NotAFolder(PathBuf),
}

impl InitError {
    /// Always an environment problem (docs/cli.md): exit 2.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "a file is" } else { "files are" }
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Writes the starter files into `dir` (created if missing) and says on `out` what it wrote and
/// what to try next. Refuses, writing nothing, when any of the files is already there.
pub fn command(dir: &Path, out: &mut dyn Write) -> Result<(), InitError> {
    // `./herald.yaml` reads better as `herald.yaml`.
    let here = dir == Path::new(".") || dir.as_os_str().is_empty();
    let targets: Vec<PathBuf> =
        FILES.iter().map(|(name, ..)| if here { PathBuf::from(name) } else { dir.join(name) }).collect();
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::NotAFolder(dir.to_path_buf()));
    }
    // `symlink_metadata`: a dangling link is still something not to write through.
    let existing: Vec<PathBuf> = targets.iter().filter(|p| p.symlink_metadata().is_ok()).cloned().collect();
    if !existing.is_empty() {
        return Err(InitError::Exists(existing));
    }
    let mut written = Vec::with_capacity(targets.len());
    for (target, (_, text, _)) in targets.iter().zip(FILES) {
        if let Err(source) = write_new(target, text) {
            // All or nothing: a file that appeared meanwhile, or a full disk, leaves no half project.
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            // AlreadyExists also comes from a folder on the way that is a file.
            let appeared = source.kind() == std::io::ErrorKind::AlreadyExists && target.symlink_metadata().is_ok();
            return Err(if appeared {
                InitError::Exists(vec![target.clone()])
            } else {
                InitError::Write { path: target.clone(), source }
            });
        }
        written.push(target.clone());
    }
    // The files are written: a closed stdout only loses the hints.
    let _ = out.write_all(summary(if here { None } else { Some(dir) }).as_bytes());
    Ok(())
}

/// Creates `path` (and its folders) with `text`, never replacing a file.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// What was written, then the commands to try, run from `dir` (`None`: the current folder).
fn summary(dir: Option<&Path>) -> String {
    let mut text = match dir {
        Some(dir) => format!("wrote a starter project in {}:\n", dir.display()),
        None => "wrote a starter project in the current folder:\n".to_string(),
    };
    let width = FILES.iter().map(|(name, ..)| name.len()).max().unwrap_or(0);
    for (name, _, what) in FILES {
        text.push_str(&format!("  {name:<width$}  {what}\n"));
    }
    text.push_str("\nnext, try:\n");
    if let Some(dir) = dir {
        text.push_str(&format!("  cd {}\n", shell_word(&dir.display().to_string())));
    }
    let commands = [
        "herald validate".to_string(),
        format!("herald simulate {CAMPAIGN} --contacts contacts.csv --responses responses.yaml"),
        "herald test".to_string(),
        format!("herald run {CAMPAIGN} --contacts contacts.csv --once"),
        "herald status".to_string(),
    ];
    for command in commands {
        text.push_str(&format!("  {command}\n"));
    }
    text
}

/// A path as one shell word: quoted when it holds anything but plain characters.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_every_file_and_then_refuses_to_write_again() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("new project");
        let mut out = Vec::new();
        command(&target, &mut out).unwrap();
        for (name, text, _) in FILES {
            assert_eq!(std::fs::read_to_string(target.join(name)).unwrap(), text, "{name}");
        }
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("cd '") && out.contains("herald test"), "{out}");

        std::fs::remove_file(target.join("contacts.csv")).unwrap();
        std::fs::write(target.join("herald.yaml"), "mine").unwrap();
        let error = command(&target, &mut Vec::new()).unwrap_err();
        assert!(matches!(&error, InitError::Exists(paths) if paths.len() == 4), "{error}");
        assert!(!target.join("contacts.csv").exists(), "nothing was written");
        assert_eq!(std::fs::read_to_string(target.join("herald.yaml")).unwrap(), "mine");
    }

    #[test]
    fn a_path_is_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_word("my-dir/x_1"), "my-dir/x_1");
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
    }
}
