/// mimalloc: the driver allocates and frees many small strings per lead (records, contacts,
/// rows), which glibc's allocator made a large share of `simulate`'s time (BENCHMARKS.md,
/// 'Figures behind code comments').
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for plain blocks when a plain block is aligned enough. The `mimalloc` crate
/// asks for an aligned block every time, and mimalloc's aligned path takes its slow, generic
/// route for every block over 1 KiB or without a free block at hand (many of the walk's
/// allocations in `simulate`: BENCHMARKS.md, "the allocator's fast path"). `mi_malloc` aligns
/// every block of 16 bytes or more to 16 bytes (an invariant mimalloc asserts in `alloc.c`, as
/// C's `malloc`, which it replaces, must), and a smaller one to 8; std's own allocator relies on
/// the same of `malloc`.
struct Mimalloc;

/// The alignment every `mi_malloc` block of at least this size has.
const PLAIN_ALIGN: usize = 16;

/// Whether a plain block of `size` bytes meets `layout`'s alignment: at most 16, and at most the
/// size (a Rust size is a multiple of its alignment, so a block under 16 bytes asks for 8 at
/// most).
fn plain(layout: std::alloc::Layout, size: usize) -> bool {
    layout.align() <= PLAIN_ALIGN && layout.align() <= size
}

// SAFETY: each method hands the request to mimalloc, whose blocks meet the layout: a plain
// block only when its guaranteed alignment covers `layout.align()` (`plain`), else an aligned
// one; every block is freed by `mi_free`, which takes both kinds.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: plain FFI allocation calls; a null return is passed on as allocation failure.
        unsafe {
            if plain(layout, layout.size()) {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        // SAFETY: as `alloc`.
        unsafe {
            if plain(layout, layout.size()) {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        // SAFETY: `ptr` came from this allocator with `layout`; the new block is plain only
        // when a plain block of `new_size` is aligned enough.
        unsafe {
            if plain(layout, new_size) {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// How the allocator gets its memory, set before any thread starts.
///
/// - No transparent huge pages: mimalloc touches a little of many 2 MiB regions, and with huge
///   pages the kernel zeroes the whole region at each first touch, a large share of `simulate`'s
///   CPU time (BENCHMARKS.md, "No transparent huge pages"); without them, the pages touched are
///   all it zeroes.
/// - Freed memory is kept for reuse instead of going back to the system 10 ms later: each batch
///   of an import frees what the next one needs, and giving it back only to fault it in again
///   cost time too. The price is that a process keeps its peak until it ends (BENCHMARKS.md,
///   'Figures behind code comments').
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
        let file = info.location().map_or("", |l| l.file());
        if let Some(message) = herald::store::damage::panic_message(&what, file) {
            herald::say!("error: {message}");
            return;
        }
        let at = info.location().map(|l| format!(" ({}:{})", l.file(), l.line())).unwrap_or_default();
        herald::say!(
            "error: herald stopped on something it did not expect: {what}{at}\n  if this happened reading a database, the file may be damaged; otherwise please report it"
        );
    }));
    std::panic::catch_unwind(herald::cli::run).unwrap_or(std::process::ExitCode::from(2))
}
