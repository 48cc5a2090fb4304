//! Counters for `/metrics`. Every one is an aggregate over all channels and users: no
//! label names a channel, blob, address or person.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// Process-wide counters (see module doc).
        #[derive(Debug, Default)]
        pub struct Metrics { $(pub $name: AtomicU64,)* }

        impl Metrics {
            /// Prometheus text exposition format.
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP sealboost_host_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "sealboost_host_{} {}", stringify!($name),
                        self.$name.load(Ordering::Relaxed));
                )*
                out
            }
        }
    };
}

counters! {
    ingress_accepted: "client connections accepted",
    ingress_refused_busy: "client connections refused at the connection limit",
    ingress_active: "client connections being relayed now",
    ingress_timed_out: "client connections closed for silence",
    ingress_link_failed: "client connections whose link to the enclave failed",
    ingress_bytes_in: "bytes relayed from clients to the enclave",
    ingress_bytes_out: "bytes relayed from the enclave to clients",
    egress_allowed: "outbound connections allowed",
    egress_denied: "outbound connections refused by the allow-list",
    egress_unreachable: "allowed outbound connections that failed to connect",
    egress_bytes_out: "bytes relayed from the enclave to the internet",
    egress_bytes_in: "bytes relayed from the internet to the enclave",
    blob_requests: "blob store requests served",
    blob_errors: "blob store requests that failed or were invalid",
    link_protocol_errors: "link connections closed for a protocol violation",
    enclave_starts: "enclave launches by the launcher",
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn dec(c: &AtomicU64) {
        c.fetch_sub(1, Ordering::Relaxed);
    }
}
