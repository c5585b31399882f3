/// mimalloc: the driver allocates and frees many small strings per lead (records, contacts,
/// rows); with glibc's allocator that was a quarter of `simulate`'s CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    herald::cli::run()
}
