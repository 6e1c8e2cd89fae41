//! The call stack of a sampled allocation: raw return addresses, captured without allocating.
//!
//! The system unwinder (`_Unwind_Backtrace`, libgcc or LLVM libunwind) walks the stack with the
//! `.eh_frame` tables, so it works without frame pointers, but it costs some 1,800 instructions
//! a frame: stack capture was about 4 % of the time of an allocation-heavy loop with sites on.
//! Successive samples of one thread mostly share their outer frames (the same loop, called from
//! the same `main`), so on x86-64 Linux each thread remembers its last stack together with each
//! frame's canonical frame address (CFA), and a capture stops unwinding at the first frame
//! whose return address and CFA are a remembered frame's, copying the remembered frames above
//! it, but only after reading, from the stack itself, that every remembered frame's return
//! address slot still holds the remembered caller.
//!
//! Why that suffices: on x86-64 the address a frame resumes at (what the unwinder reports for
//! it) is the return address its callee's call pushed, at the CFA the unwinder reports for the
//! frame minus 8; and the next frame's CFA follows from that address (which selects the unwind
//! rule) and the frame's own CFA. Frames with the same address and CFA, and the same return
//! addresses in the slots above, therefore unwind to the same frames. What could differ is only a frame whose CFA rule reads a
//! register the frame below saved (a frame-pointer frame whose depth varies with `alloca`); its
//! remembered caller's slot then almost surely holds something else, and the capture unwinds in
//! full. The slots read all lie within the thread's own stack (its bounds come from
//! `pthread_getattr_np` once per thread), so a capture on another stack (a coroutine's, a
//! signal stack) never reads outside it; it just finds nothing to reuse.

use super::sampling::MAX_FRAMES;

/// Captures the calling thread's return addresses into `frames`, innermost first; returns how
/// many.
///
/// It allocates nothing through Rust's allocator (the unwinder is C code; its FDE cache is
/// static), and the caller has set `busy`, so even an allocation somewhere below could not
/// recurse into sampling. Inlined, so that its frame is not one more to unwind.
#[inline(always)]
pub(crate) fn capture(frames: &mut [usize; MAX_FRAMES]) -> usize {
    let mut cfas = [0usize; MAX_FRAMES];
    let mut depth = 0;
    let mut reuse = None;
    // SAFETY: `trace_unsynchronized` is unsafe only because it does not take the backtrace
    // crate's global lock, which `trace` would (a lock inside the allocator could deadlock with
    // a thread resolving a report). Concurrent unwinding is safe with the system unwinder; the
    // crate's warning concerns its dbghelp backend on Windows, which is not this path's concern
    // on the unwinder-based platforms the callback below supports.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let (ip, cfa) = (frame.ip() as usize, frame.sp() as usize);
            let (Some(slot), Some(cfa_slot)) = (frames.get_mut(depth), cfas.get_mut(depth)) else {
                return false;
            };
            *slot = ip;
            *cfa_slot = cfa;
            depth += 1;
            reuse = last::reusable_above(ip, cfa);
            reuse.is_none() && depth < MAX_FRAMES
        });
    }
    if let Some(from) = reuse {
        depth = last::copy_above(from, frames, &mut cfas, depth);
    }
    last::remember(frames, &cfas, depth);
    depth
}

/// The thread's last stack, where it can be checked (x86-64 Linux with glibc).
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod last {
    use super::MAX_FRAMES;
    use std::cell::Cell;
    use std::ffi::{c_int, c_void};

    /// One thread's remembered stack. `const`-initialised, without `Drop`: touching it never
    /// allocates, as the allocator requires.
    struct Last {
        ips: [Cell<usize>; MAX_FRAMES],
        cfas: [Cell<usize>; MAX_FRAMES],
        depth: Cell<usize>,
        /// The thread's stack, `[low, high)`; `(0, 0)` until asked, `(1, 1)` if unknown.
        bounds: Cell<(usize, usize)>,
    }

    thread_local! {
        static LAST: Last = const {
            Last {
                ips: [const { Cell::new(0) }; MAX_FRAMES],
                cfas: [const { Cell::new(0) }; MAX_FRAMES],
                depth: Cell::new(0),
                bounds: Cell::new((0, 0)),
            }
        };
    }

    /// `pthread_attr_t`: 56 bytes on x86-64 glibc; 64 leave room.
    #[repr(C, align(8))]
    struct Attr([u8; 64]);

    extern "C" {
        // glibc; `pthread_t` is an `unsigned long` there.
        fn pthread_self() -> usize;
        fn pthread_getattr_np(thread: usize, attr: *mut Attr) -> c_int;
        fn pthread_attr_getstack(
            attr: *const Attr,
            addr: *mut *mut c_void,
            size: *mut usize,
        ) -> c_int;
        fn pthread_attr_destroy(attr: *mut Attr) -> c_int;
    }

    /// The calling thread's stack, asked of glibc once per thread (for the main thread it reads
    /// `/proc/self/maps`, with the C library's own allocator, never this one).
    fn bounds(last: &Last) -> (usize, usize) {
        if last.bounds.get() == (0, 0) {
            let mut attr = Attr([0; 64]);
            let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
            // SAFETY: `attr` is large and aligned enough for glibc's `pthread_attr_t`, is
            // initialised by `pthread_getattr_np` before `pthread_attr_getstack` reads it, and
            // destroyed only when that succeeded; the out-pointers are valid locals.
            let known = unsafe {
                pthread_getattr_np(pthread_self(), &mut attr) == 0 && {
                    let got = pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
                    pthread_attr_destroy(&mut attr);
                    got
                }
            };
            let low = addr as usize;
            last.bounds.set(match low.checked_add(size) {
                Some(high) if known && low > 1 => (low, high),
                _ => (1, 1),
            });
        }
        last.bounds.get()
    }

    /// When the frame at (`ip`, `cfa`) is a remembered one whose callers are all still in place,
    /// its index in the remembered stack.
    pub(super) fn reusable_above(ip: usize, cfa: usize) -> Option<usize> {
        LAST.try_with(|last| {
            let depth = last.depth.get().min(MAX_FRAMES);
            let from = (0..depth).find(|&k| last.cfas[k].get() == cfa)?;
            if last.ips[from].get() != ip || from + 1 >= depth {
                return None;
            }
            let (low, high) = bounds(last);
            for k in from + 1..depth {
                let (below, here) = (last.cfas[k - 1].get(), last.cfas[k].get());
                // CFAs grow towards the stack's base; each return address slot must be inside
                // the thread's stack before it is read.
                let slot = here.checked_sub(8)?;
                if here <= below || slot < low || here > high {
                    return None;
                }
                // SAFETY: `slot` lies within this thread's stack, which stays mapped while the
                // thread runs, and is 8-aligned (a CFA is 16-aligned on x86-64). A volatile read
                // because the compiler knows nothing of what the unwinder saw there.
                let ip = unsafe { std::ptr::read_volatile(slot as *const usize) };
                if ip != last.ips[k].get() {
                    return None;
                }
            }
            #[cfg(test)]
            REUSES.with(|r| r.set(r.get() + 1));
            Some(from)
        })
        .ok()
        .flatten()
    }

    #[cfg(test)]
    thread_local! {
        static REUSES: Cell<usize> = const { Cell::new(0) };
    }

    /// How many captures of this thread reused a remembered stack.
    #[cfg(test)]
    pub(super) fn reuses() -> usize {
        REUSES.with(Cell::get)
    }

    /// Appends the remembered frames above index `from` after the `depth` captured ones;
    /// returns the new depth.
    pub(super) fn copy_above(
        from: usize,
        frames: &mut [usize; MAX_FRAMES],
        cfas: &mut [usize; MAX_FRAMES],
        mut depth: usize,
    ) -> usize {
        let _ = LAST.try_with(|last| {
            let end = last.depth.get().min(MAX_FRAMES);
            for k in from + 1..end {
                if depth == MAX_FRAMES {
                    break;
                }
                frames[depth] = last.ips[k].get();
                cfas[depth] = last.cfas[k].get();
                depth += 1;
            }
        });
        depth
    }

    /// Remembers a captured stack for the thread's next capture.
    pub(super) fn remember(frames: &[usize; MAX_FRAMES], cfas: &[usize; MAX_FRAMES], depth: usize) {
        let _ = LAST.try_with(|last| {
            for k in 0..depth.min(MAX_FRAMES) {
                last.ips[k].set(frames[k]);
                last.cfas[k].set(cfas[k]);
            }
            last.depth.set(depth);
        });
    }
}

/// Elsewhere every capture unwinds in full.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
mod last {
    use super::MAX_FRAMES;

    pub(super) fn reusable_above(_ip: usize, _cfa: usize) -> Option<usize> {
        None
    }

    pub(super) fn copy_above(
        _from: usize,
        _frames: &mut [usize; MAX_FRAMES],
        _cfas: &mut [usize; MAX_FRAMES],
        depth: usize,
    ) -> usize {
        depth
    }

    pub(super) fn remember(_: &[usize; MAX_FRAMES], _: &[usize; MAX_FRAMES], _: usize) {}

    #[cfg(test)]
    pub(super) fn reuses() -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captures through the cache, then unwinds in full from the same frame.
    #[inline(never)]
    fn capture_here() -> (Vec<usize>, Vec<usize>) {
        let mut frames = [0; MAX_FRAMES];
        let depth = capture(&mut frames);
        let mut full = Vec::new();
        backtrace::trace(|frame| {
            full.push(frame.ip() as usize);
            true
        });
        (frames[..depth].to_vec(), full)
    }

    #[inline(never)]
    fn nested(levels: u32) -> (Vec<usize>, Vec<usize>) {
        if levels == 0 {
            capture_here()
        } else {
            std::hint::black_box(nested(levels - 1))
        }
    }

    /// The captured frames from `capture_here`'s caller up are a full unwind's.
    fn agrees((captured, full): (Vec<usize>, Vec<usize>)) -> usize {
        // The innermost frames differ (each was taken from its own call in `capture_here`); the
        // first captured address a full unwind also saw starts the common part.
        let (i, p) = captured
            .iter()
            .enumerate()
            .find_map(|(i, ip)| full.iter().position(|f| f == ip).map(|p| (i, p)))
            .expect("some frame in common");
        let n = (captured.len() - i).min(full.len() - p);
        assert_eq!(captured[i..i + n], full[p..p + n]);
        assert!(n >= 3, "{n} frames in common");
        captured.len()
    }

    #[test]
    fn a_capture_reusing_the_last_stack_is_what_a_full_unwind_sees() {
        std::thread::spawn(|| {
            let before = last::reuses();
            // The same path twice, then deeper and shallower below the same caller.
            let a = agrees(nested(2));
            assert_eq!(agrees(nested(2)), a);
            agrees(nested(4));
            agrees(nested(1));
            agrees(std::hint::black_box(nested(3)));
            if cfg!(all(
                target_arch = "x86_64",
                target_os = "linux",
                target_env = "gnu"
            )) {
                assert!(last::reuses() > before, "the cache was never used");
            }
        })
        .join()
        .expect("capturing thread");
    }
}
