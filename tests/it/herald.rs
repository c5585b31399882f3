//! The one way the integration tests run the binary: a builder for its arguments, input,
//! environment and folder, and an output with assertion helpers that print both streams when
//! they fail.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The built binary, for a test that must start it through another program.
pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// The repository root: the folder every run starts in unless told otherwise.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `herald ARGS` in the repository root.
pub fn herald(args: &[&str]) -> Out {
    Herald::new().args(args).run()
}

/// `herald ARGS` in `dir`.
pub fn herald_in(dir: &Path, args: &[&str]) -> Out {
    Herald::new().dir(dir).args(args).run()
}

enum Input {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One run of the built `herald` binary, with `NO_COLOR=1` so that diagnostics are plain text.
pub struct Herald {
    command: Command,
    stdin: Option<Input>,
    timeout: Option<Duration>,
}

impl Default for Herald {
    fn default() -> Herald {
        Herald::new()
    }
}

impl Herald {
    pub fn new() -> Herald {
        let mut command = Command::new(BIN);
        command.current_dir(root()).env("NO_COLOR", "1");
        Herald { command, stdin: None, timeout: None }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Herald {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Herald
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// The folder it runs in (the repository root by default).
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Herald {
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Herald {
        self.command.env(key, value);
        self
    }

    /// These bytes on standard input (otherwise it reads nothing: stdin is null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Herald {
        self.stdin = Some(Input::Bytes(bytes.into()));
        self
    }

    /// This file on standard input.
    pub fn stdin_file(mut self, path: impl Into<PathBuf>) -> Herald {
        self.stdin = Some(Input::File(path.into()));
        self
    }

    /// Kill it (SIGKILL) if it runs longer than this; the output then has no exit code.
    pub fn timeout(mut self, limit: Duration) -> Herald {
        self.timeout = Some(limit);
        self
    }

    /// The command as built, for a test that spawns and signals the process itself.
    pub fn command(self) -> Command {
        self.command
    }

    /// Runs it to the end and collects both streams.
    pub fn run(mut self) -> Out {
        let mut command = self.command;
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        match &self.stdin {
            None => command.stdin(Stdio::null()),
            Some(Input::Bytes(_)) => command.stdin(Stdio::piped()),
            Some(Input::File(path)) => command.stdin(std::fs::File::open(path).expect("stdin file opens")),
        };
        let mut child = command.spawn().expect("herald runs");
        let writer = match self.stdin.take() {
            Some(Input::Bytes(bytes)) => {
                let mut pipe = child.stdin.take().expect("stdin is piped");
                // A child that stops reading early closes the pipe: not the test's failure.
                Some(std::thread::spawn(move || drop(pipe.write_all(&bytes))))
            }
            _ => None,
        };
        // Both streams are drained while the child runs, so that one that fills a pipe does
        // not block it (and, with a timeout, get killed for it).
        let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if self.timeout.is_some_and(|limit| start.elapsed() > limit) {
                child.kill().ok();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(writer) = writer {
            writer.join().ok();
        }
        let output = Output {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        Out::from(output)
    }
}

/// Reads a child's stream to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).expect("herald's output");
        }
        bytes
    })
}

/// What a run printed and how it ended. `code` is -1 when a signal ended it.
pub struct Out {
    pub status: ExitStatus,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
}

impl From<Output> for Out {
    fn from(output: Output) -> Out {
        Out {
            status: output.status,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stdout_bytes: output.stdout,
        }
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Out {
    /// Exit 0.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Exit `code` with `says` in stderr.
    #[track_caller]
    pub fn fails(self, code: i32, says: &str) -> Out {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(says), "stderr lacks {says:?}:\n{}", self.stderr);
        self
    }

    /// Exit `code`, whatever it says.
    #[track_caller]
    pub fn exits(self, code: i32) -> Out {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }
}
