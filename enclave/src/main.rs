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
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEALBOOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
        },
        platform,
    ))?;
    Ok(())
}
