//! A Signal account driven with the official libsignal protocol code.
#![forbid(unsafe_code)]
