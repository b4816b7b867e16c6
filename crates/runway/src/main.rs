/// mimalloc rather than glibc's malloc for Rust's allocations: every request
/// allocates and frees many small values (rows, protobuf and JSON), and
/// glibc spent a sixth of the server's CPU on them, much of it consolidating
/// its free lists (BENCHMARKS.md, "The read path"). SQLite's own
/// allocations still go to the C library's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    runway::cli::main()
}
