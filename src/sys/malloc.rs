//! Allocator tuning for the applets.

/// Cap glibc's malloc arenas. glibc gives each thread that allocates its own arena (up to 8 per
/// core); for short worker threads (the CNI plugin) and mostly idle I/O threads (the manager)
/// that multiplies touched memory for no gain. Call before starting threads.
pub fn limit_arenas(n: i32) {
    // SAFETY: mallopt only changes allocator tuning and is called before other threads exist.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, n) };
    if ok != 1 {
        log::debug!("mallopt(M_ARENA_MAX, {n}) was refused");
    }
}
