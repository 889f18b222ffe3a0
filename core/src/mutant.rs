//! Deliberate breaks, compiled only with the `test-mutants` feature, that
//! prove the fuzz oracle can fail: each one is a smuggling bug a proxy
//! could really have, switched on per config (`Config::mutant`) so that
//! `tests/fuzz_mutants.rs` can run the `proxy` harness with it and expect
//! a failure. A release build has neither the field nor the hooks.

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
