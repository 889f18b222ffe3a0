//! The `weir-smol` binary: the shared command line over the smol frontend.

/// jemalloc (the `jemalloc` feature, on by default): each size class in
/// pages of its own, so the request buffers a burst frees go back whole
/// instead of staying pinned between idle connections' task allocations
/// (glibc's heap kept 3.9-5.3 KB per idle connection after a burst of
/// 5 000; jemalloc 1.7-1.9 KB, at the same requests per second).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    #[cfg(feature = "jemalloc")]
    weir_frontend::memory::release_with(jemalloc_release);
    std::process::exit(weir_frontend::main("weir-smol", weir_smol::serve_blocking));
}

/// jemalloc's way to give free pages back: the calling thread's cache
/// flushed, then every arena's unused dirty pages purged at once (rather
/// than after jemalloc's own 10 s decay).
#[cfg(feature = "jemalloc")]
#[allow(unsafe_code)]
fn jemalloc_release() {
    for name in [c"thread.tcache.flush", c"arena.4096.purge"] {
        // SAFETY: both controls take no value and return none (null
        // pointers, length 0); 4096 is MALLCTL_ARENAS_ALL. An error (a
        // build without a thread cache) leaves the pages where they are.
        unsafe {
            let _ = tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
    }
}
