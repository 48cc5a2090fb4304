//! `sealboost-enclave`: a thin binary over [`enclave::platform::Platform`].

use std::sync::Arc;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

use enclave::platform::{Nsm, Platform, Simulated, Snp};
use enclave::EnclaveConfig;
use wire::link::LinkAddr;

#[derive(Clone, Copy, ValueEnum)]
enum PlatformArg {
    /// NOT A TEE: Nitro-format evidence from a simulation CA (needs --sim-attester).
    Simulated,
    Nitro,
    SevSnp,
}

#[derive(Parser)]
#[command(
    name = "sealboost-enclave",
    version,
    about = "sealboost enclave (trusted)"
)]
struct Cli {
    #[arg(long, value_enum)]
    platform: PlatformArg,
    /// Where to accept link connections: unix:PATH or vsock:CID:PORT.
    #[arg(long)]
    listen: LinkAddr,
    /// The host's link endpoint.
    #[arg(long)]
    host: LinkAddr,
    /// Simulation attester material (PEM) for --platform simulated.
    #[arg(long)]
    sim_attester: Option<PathBuf>,
    /// The Signal service as `host:port` (reached through the host's egress relay).
    #[arg(long)]
    signal_service: Option<String>,
    /// TLS server name of the Signal service (default: the host part of --signal-service).
    #[arg(long)]
    signal_name: Option<String>,
    /// Simulation only: the Signal stand-in's TLS root (PEM). Real platforms pin the roots
    /// compiled into the measured build (COURIER.md §5).
    #[arg(long)]
    signal_ca: Option<PathBuf>,
    /// Simulation only: the stand-in's sealed-sender trust root.
    #[arg(long)]
    signal_trust_root: Option<PathBuf>,
    /// Bytes of inbound queue items one unlock reads at most (COURIER.md §3 step 2); the rest
    /// wait for the next unlock. 256 KiB..=1 GiB.
    #[arg(long, default_value_t = enclave::courier_api::UNLOCK_BYTE_BUDGET)]
    unlock_budget_bytes: usize,
}

/// Roots a production build pins: set at build time so they are part of the measurement.
const BUILT_IN_TLS_ROOT: Option<&str> = option_env!("SEALBOOST_SIGNAL_TLS_ROOT_PEM");
const BUILT_IN_TRUST_ROOT_HEX: Option<&str> = option_env!("SEALBOOST_SIGNAL_TRUST_ROOT_HEX");

fn signal_settings(cli: &Cli) -> anyhow::Result<Option<enclave::courier::SignalSettings>> {
    let Some(service) = &cli.signal_service else {
        return Ok(None);
    };
    let target = wire::hello::EgressTarget::parse(service)
        .map_err(|e| anyhow::anyhow!("--signal-service {service}: {e}"))?;
    let simulated = matches!(cli.platform, PlatformArg::Simulated);
    let (tls_root, trust_root) = match (&cli.signal_ca, &cli.signal_trust_root) {
        (Some(ca), Some(root)) => {
            anyhow::ensure!(
                simulated,
                "--signal-ca/--signal-trust-root are for --platform simulated only: a real \
                 enclave must not take its Signal roots from the untrusted host"
            );
            (std::fs::read(ca)?, read_trust_root(&std::fs::read(root)?)?)
        }
        (None, None) => {
            let (Some(tls), Some(trust)) = (BUILT_IN_TLS_ROOT, BUILT_IN_TRUST_ROOT_HEX) else {
                anyhow::bail!("this build pins no Signal roots; see COURIER.md §5");
            };
            (tls.as_bytes().to_vec(), hex::decode(trust.trim())?)
        }
        _ => anyhow::bail!("--signal-ca and --signal-trust-root go together"),
    };
    let server_name = cli
        .signal_name
        .clone()
        .unwrap_or_else(|| target.host().to_owned());
    Ok(Some(enclave::courier::SignalSettings {
        target,
        tls_root,
        server_name,
        trust_root,
    }))
}

/// The trust root file: raw key bytes, or hex/base64 text of them.
fn read_trust_root(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
    if !text.is_empty() {
        if let Ok(v) = hex::decode(text) {
            return Ok(v);
        }
        if let Ok(v) = base64::engine::general_purpose::STANDARD.decode(text) {
            return Ok(v);
        }
    }
    Ok(bytes.to_vec())
}

fn main() -> anyhow::Result<()> {
    enclave::logging::init();
    let cli = Cli::parse();
    let signal = signal_settings(&cli)?;
    enclave::courier_api::set_unlock_byte_budget(cli.unlock_budget_bytes)
        .map_err(|e| anyhow::anyhow!("--unlock-budget-bytes: {e}"))?;
    let platform: Arc<dyn Platform> = match cli.platform {
        PlatformArg::Simulated => {
            let path = cli
                .sim_attester
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--platform simulated needs --sim-attester"))?;
            let sim = Simulated::load(path)?;
            tracing::warn!(pcr0 = %sim.pcr0_hex(), "SIMULATED platform: this is not a TEE");
            Arc::new(sim)
        }
        PlatformArg::Nitro => Arc::new(Nsm::open()?),
        PlatformArg::SevSnp => Arc::new(Snp::open()?),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(enclave::run(
        EnclaveConfig {
            listen: cli.listen,
            host: cli.host,
            signal,
        },
        platform,
    ))?;
    Ok(())
}
