//! Shared frontend code.
