//! What the enclave may log. Its log is written to stderr, which the (untrusted) host
//! collects, so a log line is something the host learns (VAULT.md §22).
//!
//! - The project's own crates log at the level `SEALBOOST_LOG` names (an `EnvFilter`
//!   directive, default `info`); they log kinds and counts only, never a number, ACI, body
//!   or key (STYLE.md habit 6).
//! - Every other crate is capped at WARN, whatever `SEALBOOST_LOG` says: dependencies log
//!   per-connection and per-session events at INFO and below (e.g. the PQ ratchet's version
//!   negotiation), which would tell the host when which session changes.
//! - libsignal's crates are off entirely: they name protocol addresses (a sender's ACI and
//!   device) even in warnings and errors.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, Targets};
use tracing_subscriber::layer::{Filter, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The environment variable that sets the own crates' level.
pub const LOG_ENV: &str = "SEALBOOST_LOG";

/// Crates of this project (tracing targets start with the crate name).
pub const OWN_TARGETS: &[&str] = &[
    "enclave",
    "sealboost_enclave",
    "signal_client",
    "signal_api",
    "wire",
    "attestation",
];

/// Dependencies that never log here, at any level. Targets match by prefix, so
/// `libsignal_protocol` also covers the crates.io build's `libsignal_protocol_syft` and
/// `spqr` its `spqr_syft`; the exact names are listed too so the intent is plain.
pub const SILENCED_TARGETS: &[&str] = &[
    "libsignal_protocol",
    "libsignal_protocol_syft",
    "libsignal_core",
    "libsignal_core_syft",
    "libsignal_account_keys",
    "signal_crypto",
    "spqr",
    "spqr_syft",
    "zkgroup",
];

/// The most a dependency may log.
pub const DEPENDENCY_CAP: LevelFilter = LevelFilter::WARN;

/// The filter the enclave installs, for an own-crates directive (`SEALBOOST_LOG`'s value;
/// `None` or an invalid one means `info`).
pub fn filter<S>(own: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let env = own
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // Own crates pass through to `env`; everything else is held to the cap; libsignal's
    // crates are off. Both filters must agree for an event to be written.
    let mut cap = Targets::new().with_default(DEPENDENCY_CAP);
    for t in OWN_TARGETS {
        cap = cap.with_target(*t, LevelFilter::TRACE);
    }
    for t in SILENCED_TARGETS {
        cap = cap.with_target(*t, LevelFilter::OFF);
    }
    env.and(cap)
}

/// Installs the enclave's log: the filter above, formatted to stderr. Records of the `log`
/// crate (libsignal and others use it) go through the same filter.
pub fn init() {
    let own = std::env::var(LOG_ENV).ok();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter(own.as_deref()));
    tracing_subscriber::registry().with(layer).init();
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// Runs `f` under the enclave's filter for `own`, returns what was written.
    fn logged(own: Option<&str>, f: impl FnOnce()) -> String {
        let out = Capture::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .with_ansi(false)
            .with_filter(filter(own));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn dependencies_are_capped_at_warn_even_when_the_own_level_is_debug() {
        let out = logged(Some("debug"), || {
            // What the `log` bridge turns a dependency's record into.
            tracing::info!(target: "hyper::proto", "dependency info");
            tracing::debug!(target: "rustls::client", "dependency debug");
            tracing::warn!(target: "hyper::proto", "dependency warning");
        });
        assert!(!out.contains("dependency info"), "{out}");
        assert!(!out.contains("dependency debug"), "{out}");
        assert!(out.contains("dependency warning"), "{out}");
    }

    #[test]
    fn libsignal_and_the_pq_ratchet_never_log() {
        let out = logged(Some("trace"), || {
            // The targets the `log` bridge gives the crates.io builds' records.
            tracing::info!(target: "spqr_syft", "spqr negotiating version down to V0");
            tracing::error!(target: "spqr_syft::chain", "spqr error");
            tracing::warn!(target: "libsignal_protocol_syft::session_cipher", "no session");
            tracing::error!(target: "libsignal_core_syft", "core error");
            tracing::info!(target: "spqr", "unrenamed spqr");
        });
        assert_eq!(out, "");
    }

    #[test]
    fn own_crates_follow_the_setting() {
        let default = logged(None, || {
            tracing::info!(target: "enclave::courier", "own info");
            tracing::debug!(target: "enclave::courier", "own debug");
        });
        assert!(default.contains("own info"), "{default}");
        assert!(!default.contains("own debug"), "{default}");
        let debug = logged(Some("debug"), || {
            tracing::debug!(target: "signal_client::ws", "own debug");
        });
        assert!(debug.contains("own debug"), "{debug}");
        // A setting cannot lift a dependency above the cap.
        let lifted = logged(Some("hyper=trace,spqr=trace"), || {
            tracing::info!(target: "hyper", "lifted");
            tracing::info!(target: "spqr", "lifted pq");
        });
        assert_eq!(lifted, "");
    }

    #[test]
    fn an_invalid_setting_means_info() {
        let out = logged(Some("==not a directive=="), || {
            tracing::info!(target: "enclave", "own info");
            tracing::debug!(target: "enclave", "own debug");
        });
        assert!(out.contains("own info"), "{out}");
        assert!(!out.contains("own debug"), "{out}");
    }
}
