//! Integration tests live in tests/; this library holds shared harness code.
#![forbid(unsafe_code)]
