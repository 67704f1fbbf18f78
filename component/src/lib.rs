//! # flowgate as a WebAssembly component
//!
//! `flowgate-core` behind the WIT world `flowgate:core/flowgate` (`wit/flowgate.wit`, where
//! each function's meaning and errors are documented). This crate is glue: it turns WIT
//! records into the core's types and back, and every decision is the core's.
//!
//! It is built for `wasm32-wasip2` only, `no_std`, so that the component imports nothing (no
//! WASI): the standard library would bring fourteen WASI interfaces with it. Time and
//! randomness come in as arguments, as the core takes them.

#![cfg_attr(target_arch = "wasm32", no_std)]
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod limiter;
mod progress;
mod retry;

use alloc::vec::Vec;

use flowgate_core::FieldError;
use flowgate_core::document::DocumentError;

/// The bindings of `wit/flowgate.wit`: the one place with unsafe code (the canonical ABI's).
#[allow(unsafe_code, missing_docs, unreachable_pub)]
mod bindings {
    wit_bindgen::generate!({
    path: "wit",
    world: "flowgate",
        });
}

pub(crate) use bindings::exports;
use exports::flowgate::core::types as wit;

/// The component's exports.
struct Flowgate;

#[allow(unsafe_code, unreachable_pub)]
mod export {
    use super::{Flowgate, bindings};
    bindings::export!(Flowgate with_types_in bindings);
}

/// Talc as the allocator: small, and needs nothing from the host.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// A panic traps. Every error the API can meet is an `err` of its WIT type; a panic would be a
/// bug, and the standard library's handler (and its WASI imports) is not here to report it.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator, which the host calls to pass strings and lists in. The
/// standard library exports it on `wasm32-wasip2`; without it, it is ours to export (as
/// wit-bindgen's own runtime writes it for other targets).
///
/// # Safety
/// Called by the host as the component model specifies: `old_ptr` and `old_len` describe an
/// allocation this function made (or are 0), and `align` is a power of two.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        // A dangling, aligned pointer: nothing is read or written through it.
        return align as *mut u8;
    }
    // SAFETY: the host passes a power-of-two `align` and a size it allocated with it.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}

// The target's own libc provides `memcmp` and friends that core's code calls; it imports
// nothing from the host.
#[link(name = "c")]
#[allow(unsafe_code)]
unsafe extern "C" {}

fn field_error(e: FieldError) -> wit::FieldError {
    wit::FieldError {
        pointer: e.pointer,
        detail: e.detail,
    }
}

fn field_errors(errors: Vec<FieldError>) -> Vec<wit::FieldError> {
    errors.into_iter().map(field_error).collect()
}

/// A document the core refused, for the WIT: a shape error is the one problem of its list.
fn document_error(e: DocumentError) -> wit::DocumentError {
    match e {
        DocumentError::NotJson(message) => wit::DocumentError::NotJson(message),
        DocumentError::Shape(e) => wit::DocumentError::Invalid(alloc::vec![field_error(e)]),
    }
}
