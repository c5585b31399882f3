/// mimalloc: the driver allocates and frees many small strings per lead (records, contacts,
/// rows); with glibc's allocator that was a quarter of `simulate`'s CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How the allocator gets its memory, set before any thread starts.
///
/// - No transparent huge pages: mimalloc touches a little of many 2 MiB regions, and with huge
///   pages the kernel zeroes the whole region at each first touch. That was 13% of `simulate`'s CPU
///   time on the peer flow (BENCHMARKS.md); without them, the pages touched are all it zeroes.
/// - Freed memory is kept for reuse instead of going back to the system 10 ms later: each batch
///   of an import frees what the next one needs, and giving it back only to fault it in again
///   cost another 5% or so. The price is that a process keeps its peak (about 110 MB for a
///   large import) until it ends.
fn tune_allocator() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3), which the bindings do not name.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's options; safe at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
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
