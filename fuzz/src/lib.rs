//! Shared by every fuzz target: an allocator that aborts on any single allocation above
//! 512 MiB (see `set_limit_mb`). libFuzzer's `-malloc_limit_mb` needs a
//! sanitizer's malloc hooks; this makes "a parser allocated what a tiny input cannot justify"
//! a crash with any `-s` setting, including `-s none`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CappedAlloc;

static LIMIT: AtomicUsize = AtomicUsize::new(0);

fn limit() -> usize {
    let l = LIMIT.load(Ordering::Relaxed);
    if l != 0 {
        return l;
    }
    512 << 20
}

/// Sets the per-allocation limit in MiB (called before fuzzing; 0 keeps the default).
pub fn set_limit_mb(mb: usize) {
    if mb > 0 {
        LIMIT.store(mb << 20, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    if size > limit() {
        // No formatting machinery that might allocate: write the fixed message and abort, which
        // libFuzzer records as a crash with the input that caused it.
        let msg = b"edgetune-fuzz: single allocation above the limit (512 MiB by default)\n";
        use std::io::Write;
        // stderr is unbuffered; a failed write changes nothing about the abort that follows.
        let _ = std::io::stderr().write_all(msg);
        std::process::abort();
    }
}

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;
