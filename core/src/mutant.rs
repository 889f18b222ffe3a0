//! Deliberate breaks, compiled only with the `test-mutants` feature, that
//! prove the fuzz oracle can fail: each one is a smuggling bug a proxy
//! could really have, switched on per config (`Config::mutant`) so that
//! `tests/fuzz_mutants.rs` can run the `proxy` harness with it and expect
//! a failure. A release build has neither the field nor the hooks.
//!
//! `RawChunkLine` lives in the chunk reader, which sees no config: it is
//! read from a flag of the running thread (set by the harness for one
//! run), so that no hot structure grows a field in test builds.

use std::cell::Cell;

thread_local! {
    static RAW_CHUNK_LINE: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread runs with the `RawChunkLine` mutant.
pub fn raw_chunk_line() -> bool {
    RAW_CHUNK_LINE.with(Cell::get)
}

/// Switches `mutant` on for this thread until the guard is dropped (the
/// config-borne mutants need no switch; this one does).
pub fn on_this_thread(mutant: Mutant) -> impl Drop {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            RAW_CHUNK_LINE.with(|c| c.set(false));
        }
    }
    RAW_CHUNK_LINE.with(|c| c.set(mutant == Mutant::RawChunkLine));
    Reset
}

/// Which break is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mutant {
    /// None: the real code.
    #[default]
    None,
    /// The request rewriter drops `Content-Length`: the body goes
    /// upstream unframed, to be read there as the next request.
    DropContentLength,
    /// A chunk-size line ended by a bare LF is accepted and forwarded raw.
    RawChunkLine,
    /// The fields named in `Connection` are not removed (one forgotten
    /// hop-by-hop header).
    KeepConnectionListed,
}
