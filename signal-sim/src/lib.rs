//! A local stand-in for the Signal chat service: the wire API subset a channel bot needs,
//! faithfully (see `SPEC.md`), over TLS with its own CA. It never decrypts message content:
//! envelopes are opaque bytes it stores and forwards.
//!
//! Run it in-process with [`Server::start`] or as the `signal-sim serve` binary.
#![forbid(unsafe_code)]

mod cert;
mod error;
mod mrm;
mod routes;
mod server;
mod state;
mod tls;
mod ws;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cert::SENDER_CERTIFICATE_LIFETIME_MS;
pub use error::SimError;
pub use server::MAX_CONNECTIONS;

/// The `cdn` number in upload forms (SPEC §7.7).
pub const ATTACHMENT_CDN: u32 = 3;
/// File name of the TLS trust root written to the state directory (SPEC §2).
pub const CA_FILE: &str = "ca.pem";
/// File name of the sealed-sender trust root written to the state directory (SPEC §7.5).
pub const SEALED_SENDER_ROOT_FILE: &str = "sealed-sender-root.pub";

/// How to run the simulator. [`Config::new`] gives the defaults of `signal-sim serve`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (port 0 picks one).
    pub listen: SocketAddr,
    /// Where to write `ca.pem` and `sealed-sender-root.pub`; `None` writes nothing.
    pub dir: Option<PathBuf>,
    /// Extra DNS names / IP literals for the server certificate (SPEC §2).
    pub names: Vec<String>,
    /// Accept any verification code (SPEC §7.1).
    pub accept_any_code: bool,
    /// Token-bucket size per (sender, recipient); 0 disables rate limiting (SPEC §8).
    pub rate_burst: u32,
    /// Token refill per second (SPEC §8).
    pub rate_per_sec: f64,
    /// Senders (e164) whose sends are answered 428 (the test trigger of SPEC §7.4).
    pub challenge_senders: Vec<String>,
    /// The status a rate-limited send is answered with, always with `Retry-After` (SPEC §8).
    pub rate_limit_status: RateLimitStatus,
    /// Answer WebSocket keepalives (SPEC §7.6). `false` is a SIM-ONLY test knob that plays a
    /// half-open connection: the socket stays up but keepalives go unanswered.
    pub answer_keepalives: bool,
}

/// How the sim answers a rate-limited send (SPEC §8). Both carry `Retry-After`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitStatus {
    /// 429 Too Many Requests, as the service answers today.
    #[default]
    TooManyRequests,
    /// 413 with `Retry-After`, the real service's older mapping of rate limits. An oversized
    /// body is still 413 *without* `Retry-After`.
    PayloadTooLarge,
}

impl RateLimitStatus {
    /// The HTTP status code.
    pub fn code(self) -> u16 {
        match self {
            RateLimitStatus::TooManyRequests => 429,
            RateLimitStatus::PayloadTooLarge => 413,
        }
    }
}

impl std::str::FromStr for RateLimitStatus {
    type Err = SimError;

    /// `"429"` or `"413"`.
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s {
            "429" => Ok(RateLimitStatus::TooManyRequests),
            "413" => Ok(RateLimitStatus::PayloadTooLarge),
            _ => Err(SimError::Config {
                reason: "rate-limit status must be 429 or 413",
            }),
        }
    }
}

/// SIM-ONLY counters, read with `GET /v1/sim/stats` or [`ServerHandle::stats`] (SPEC §7.11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// Sends refused by the rate limiter (§8), whichever status answered them.
    pub rate_limited: u64,
    /// Sends answered 409: the listed devices were not the recipient's (§7.4 step 7,
    /// §7.10 step 5).
    #[serde(default)]
    pub mismatched_devices: u64,
    /// Sends answered 410: a registration id was not the device's (§7.4 step 8, §7.10).
    #[serde(default)]
    pub stale_devices: u64,
}

impl Config {
    /// Defaults: burst 60, 1 token/s, codes checked, no challenge trigger, rate limits
    /// answered 429, keepalives answered.
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            dir: None,
            names: vec![],
            accept_any_code: false,
            rate_burst: 60,
            rate_per_sec: 1.0,
            challenge_senders: vec![],
            rate_limit_status: RateLimitStatus::TooManyRequests,
            answer_keepalives: true,
        }
    }
}

pub(crate) struct Sim {
    pub config: Config,
    state: Mutex<state::State>,
    pub certs: cert::CertIssuer,
    pub shutdown: watch::Receiver<bool>,
    /// `host:port` used in self-referencing URLs when a request has no Host header.
    pub host: String,
    /// Sends refused by the rate limiter (SPEC §7.11).
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// Sends answered 409 (SPEC §7.11).
    pub mismatched_devices: std::sync::atomic::AtomicU64,
    /// Sends answered 410 (SPEC §7.11).
    pub stale_devices: std::sync::atomic::AtomicU64,
}

impl Sim {
    /// The state lock. A panic while holding it cannot leave the maps half-updated in a way
    /// that matters to a test double, so poisoning is ignored.
    pub(crate) fn state(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn stats(&self) -> SimStats {
        SimStats {
            rate_limited: self.rate_limited.load(std::sync::atomic::Ordering::Relaxed),
            mismatched_devices: self
                .mismatched_devices
                .load(std::sync::atomic::Ordering::Relaxed),
            stale_devices: self
                .stale_devices
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Server;

/// A running simulator. Dropping it leaves the server running until the runtime ends; call
/// [`ServerHandle::shutdown`] to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    ca_pem: String,
    ca_der: Vec<u8>,
    sim: Arc<Sim>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Generate the PKI and sealed-sender root, bind, write the trust roots to `config.dir`,
    /// and start serving.
    pub async fn start(config: Config) -> Result<ServerHandle, SimError> {
        let pki = tls::make(&config.names)?;
        let certs = cert::CertIssuer::generate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(SimError::io("binding"))?;
        let addr = listener.local_addr().map_err(SimError::io("binding"))?;
        if let Some(dir) = &config.dir {
            write_roots(dir, &pki.ca_pem, certs.root_public())?;
        }
        let (tx, rx) = watch::channel(false);
        let limiter = state::RateLimiter::new(config.rate_burst, config.rate_per_sec);
        let sim = Arc::new(Sim {
            host: addr.to_string(),
            config,
            state: Mutex::new(state::State::new(limiter)),
            certs,
            shutdown: rx.clone(),
            rate_limited: std::sync::atomic::AtomicU64::new(0),
            mismatched_devices: std::sync::atomic::AtomicU64::new(0),
            stale_devices: std::sync::atomic::AtomicU64::new(0),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let task = tokio::spawn(server::accept_loop(listener, acceptor, sim.clone(), rx));
        Ok(ServerHandle {
            addr,
            ca_pem: pki.ca_pem,
            ca_der: pki.ca_der,
            sim,
            shutdown: tx,
            task,
        })
    }
}

fn write_roots(dir: &Path, ca_pem: &str, sealed_root: &[u8]) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(SimError::io("creating the state directory"))?;
    std::fs::write(dir.join(CA_FILE), ca_pem).map_err(SimError::io("writing ca.pem"))?;
    let line = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(sealed_root)
    );
    std::fs::write(dir.join(SEALED_SENDER_ROOT_FILE), line)
        .map_err(SimError::io("writing sealed-sender-root.pub"))
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS trust root (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The TLS trust root (DER).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The sealed-sender trust root: a serialized libsignal public key (33 bytes).
    pub fn sealed_sender_root(&self) -> &[u8] {
        self.sim.certs.root_public()
    }

    /// SIM-ONLY test hook: the code most recently issued for a verification session (what
    /// the sim also writes to its log, SPEC §7.1).
    pub fn verification_code(&self, session_id: &str) -> Option<String> {
        self.sim
            .state()
            .sessions
            .get(session_id)
            .and_then(|s| s.code.clone())
    }

    /// SIM-ONLY test hook: how many envelopes are stored (unacknowledged) for a device.
    pub fn queued(&self, aci: uuid::Uuid, device_id: u32) -> usize {
        self.sim
            .state()
            .accounts
            .get(&aci)
            .and_then(|a| a.devices.get(&device_id))
            .map_or(0, |d| d.mailbox.len())
    }

    /// SIM-ONLY: the counters of `GET /v1/sim/stats` (SPEC §7.11).
    pub fn stats(&self) -> SimStats {
        self.sim.stats()
    }

    /// Stop accepting, close connections (WebSockets with 1001), and wait for the listener.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
