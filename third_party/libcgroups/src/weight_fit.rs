//! hardrun (HARDRUN-PATCHES.md §7): the quadratic fit from cgroup v1 cpu shares to a cgroup v2
//! weight, computed with glibc's own `log2` and `pow`, loaded from `libm.so.6` the first time a
//! conversion needs them.
//!
//! Calling `f64::log2` and `f64::powf` made libm a shared library of every binary linking this
//! crate. The runtime is started twice per `create`, `run` and `exec`, and the loader spent
//! ≈0.2 ms of each start on libm (issue 20), for two functions that a cgroup v1 host never
//! calls. The same library's functions give the same weights as before, bit for bit: the fit
//! is rounded up (`ceil`), so a last-bit difference in `pow` could move a weight by one.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

unsafe extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

const RTLD_NOW: c_int = 2;

type Log2 = unsafe extern "C" fn(f64) -> f64;
type Pow = unsafe extern "C" fn(f64, f64) -> f64;

/// glibc's `log2` and `pow`; `None` where `libm.so.6` or either symbol cannot be loaded.
fn libm() -> Option<(Log2, Pow)> {
    static LIBM: OnceLock<Option<(Log2, Pow)>> = OnceLock::new();
    *LIBM.get_or_init(|| {
        // SAFETY: dlopen takes a NUL-terminated name and flags; the handle is never closed, so
        // the symbols stay valid for the life of the process.
        let handle = unsafe { dlopen(c"libm.so.6".as_ptr(), RTLD_NOW) };
        if handle.is_null() {
            return None;
        }
        // SAFETY: `handle` is a live handle and the names are NUL-terminated.
        let (log2, pow) = unsafe {
            (
                dlsym(handle, c"log2".as_ptr()),
                dlsym(handle, c"pow".as_ptr()),
            )
        };
        if log2.is_null() || pow.is_null() {
            return None;
        }
        // SAFETY: glibc's `double log2(double)` and `double pow(double, double)`, with the C
        // ABI these types name.
        unsafe {
            Some((
                std::mem::transmute::<*mut c_void, Log2>(log2),
                std::mem::transmute::<*mut c_void, Pow>(pow),
            ))
        }
    })
}

/// runc's fit (1.3.2, opencontainers/cgroups#20) for `shares` inside (2, 262_144):
/// `ceil(10^((l² + 125 l) / 612 − 7/34))` with `l = log2(shares)`; the callers clamp it. Where
/// libm cannot be loaded, the linear mapping runc used before 1.3.2,
/// `1 + (shares − 2) × 9999 / 262_142`, with a warning.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match libm() {
        Some((log2, pow)) => {
            // SAFETY: plain C math functions of f64 arguments; no pointers, no state.
            let log_shares = unsafe { log2(shares as f64) };
            let exponent = (log_shares * log_shares + 125.0 * log_shares) / 612.0 - 7.0 / 34.0;
            // SAFETY: as above
            unsafe { pow(10.0, exponent) }.ceil() as u64
        }
        None => {
            tracing::warn!(
                shares,
                "libm.so.6 cannot be loaded: cpu shares converted to a weight linearly"
            );
            1 + (shares.saturating_sub(2)) * 9999 / 262_142
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weights `f64::log2` and `f64::powf` (glibc's, linked) gave before, for every shares
    /// value in the fit's range.
    #[test]
    fn the_same_weights_as_the_linked_functions_for_every_shares_value() {
        assert!(libm().is_some(), "libm.so.6 loads on a glibc host");
        for shares in 3..262_144u64 {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            let linked = (10f64.powf(exponent)).ceil() as u64;
            assert_eq!(shares_to_weight(shares), linked, "shares {shares}");
        }
        // runc's documented anchors: the v1 default maps to the v2 default
        assert_eq!(shares_to_weight(1024), 100);
    }
}
