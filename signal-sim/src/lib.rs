//! A local stand-in for the Signal chat service. It never decrypts.
#![forbid(unsafe_code)]
