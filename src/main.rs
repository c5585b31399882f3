/// mimalloc: the driver allocates and frees many small strings per lead (records, contacts,
/// rows); with glibc's allocator that was a quarter of `simulate`'s CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A panic is a bug in herald, or a damaged database that redb could not read (it panics on
    // some malformed keys): either way a clear message and exit 2, never a bare backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" ({}:{})", l.file(), l.line())).unwrap_or_default();
        herald::say!(
            "error: herald stopped on something it did not expect: {what}{at}\n  if this happened reading a database, the file may be damaged; otherwise please report it"
        );
    }));
    std::panic::catch_unwind(herald::cli::run).unwrap_or(std::process::ExitCode::from(2))
}
