//! The Win32 subset of windows.h from C, on its own: tests/fixtures/win32.c.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn win32_subset_from_c() {
    let dir = scratch("win32");
    let exe = dir.join("win32");
    cc(
        &dir,
        &[root().join("crates/msrpc-c/tests/fixtures/win32.c")],
        &exe,
        &[],
    );
    let r = run(&exe, &[], &[], Duration::from_secs(60));
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        48,
        "{}",
        r.stdout
    );
    assert_eq!(r.code, Some(0), "{r:?}");
}

#[test]
fn threads_wait_all_named_events_and_thread_messages_from_c() {
    let dir = scratch("win32-threads");
    let exe = dir.join("win32_threads");
    cc(
        &dir,
        &[root().join("crates/msrpc-c/tests/fixtures/win32_threads.c")],
        &exe,
        &["-pthread"],
    );
    let r = run(&exe, &[], &[], Duration::from_secs(120));
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        80,
        "{}",
        r.stdout
    );
    assert_eq!(r.code, Some(0), "{r:?}");
}
