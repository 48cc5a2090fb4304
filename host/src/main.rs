//! `sealboost-host`: see the crate docs and docs/OPERATIONS.md.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use host::hostlink::Allowlist;
use host::launcher::Launch;
use host::HostConfig;
use wire::hello::EgressTarget;
use wire::link::LinkAddr;

#[derive(Parser)]
#[command(
    name = "sealboost-host",
    version,
    about = "sealboost untrusted host: relays, blob store, enclave launcher"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the host.
    Run(RunArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LaunchKind {
    /// Do not start an enclave; one runs elsewhere.
    External,
    /// Start `--enclave-bin` as a child process (simulated mode).
    Simulated,
    /// `nitro-cli run-enclave` (see docs/OPERATIONS.md).
    Nitro,
    /// An SEV-SNP guest under QEMU with kernel-hashes (see docs/OPERATIONS.md).
    SevSnp,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Client-facing TCP address (TLS passes through to the enclave).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Operator health and metrics (plain HTTP; keep it private).
    #[arg(long, default_value = "127.0.0.1:9090")]
    health_listen: SocketAddr,
    /// The embedded blob store file.
    #[arg(long)]
    store: PathBuf,
    /// Where the enclave listens: unix:PATH or vsock:CID:PORT.
    #[arg(long)]
    enclave_link: LinkAddr,
    /// Where the host listens for the enclave: unix:PATH or vsock:CID:PORT.
    #[arg(long)]
    host_link: LinkAddr,
    /// Outbound host:port the enclave may reach (repeatable). Default: none.
    #[arg(long = "egress-allow")]
    egress_allow: Vec<String>,
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// DANGER, tests only: a fault-switch file that makes the blob store refuse or crash on
    /// state writes (host/src/store/danger_test_faults.rs). Never set in a deployment.
    #[arg(long, hide = true)]
    danger_test_faults: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "external")]
    launch: LaunchKind,
    /// Enclave executable for --launch simulated.
    #[arg(long)]
    enclave_bin: Option<PathBuf>,
    /// Argument passed to the enclave (repeatable).
    #[arg(long = "enclave-arg", allow_hyphen_values = true)]
    enclave_args: Vec<OsString>,
    /// Refuse to start unless the simulated enclave can get an empty network namespace.
    #[arg(long)]
    require_isolation: bool,
    /// EIF for --launch nitro.
    #[arg(long)]
    eif: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    enclave_cid: u32,
    #[arg(long, default_value_t = 2048)]
    enclave_memory_mib: u32,
    #[arg(long, default_value_t = 2)]
    enclave_cpus: u32,
    /// QEMU for --launch sev-snp.
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// OVMF (AmdSev build) for --launch sev-snp; part of the launch measurement.
    #[arg(long)]
    ovmf: Option<PathBuf>,
    /// Guest kernel for --launch sev-snp; part of the launch measurement.
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Guest initrd (holding sealboost-enclave) for --launch sev-snp.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Guest kernel command line for --launch sev-snp; part of the launch measurement.
    #[arg(long, default_value = "console=ttyS0")]
    cmdline: String,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEALBOOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cmd::Run(args) = Cli::parse().cmd;
    let allow = Allowlist::new(
        args.egress_allow
            .iter()
            .map(|s| EgressTarget::parse(s).with_context(|| format!("--egress-allow {s}")))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    let launch = match args.launch {
        LaunchKind::External => Launch::External,
        LaunchKind::Simulated => Launch::Simulated {
            exe: args
                .enclave_bin
                .context("--launch simulated needs --enclave-bin")?,
            args: args.enclave_args,
            isolate_network: true,
            require_isolation: args.require_isolation,
        },
        LaunchKind::SevSnp => Launch::SevSnp {
            qemu: args.qemu,
            ovmf: args.ovmf.context("--launch sev-snp needs --ovmf")?,
            kernel: args.kernel.context("--launch sev-snp needs --kernel")?,
            initrd: args.initrd.context("--launch sev-snp needs --initrd")?,
            cmdline: args.cmdline,
            memory_mib: args.enclave_memory_mib,
            cpus: args.enclave_cpus,
            cid: args.enclave_cid,
        },
        LaunchKind::Nitro => Launch::Nitro {
            eif: args.eif.context("--launch nitro needs --eif")?,
            cid: args.enclave_cid,
            memory_mib: args.enclave_memory_mib,
            cpus: args.enclave_cpus,
        },
    };
    let cfg = HostConfig {
        listen: args.listen,
        health_listen: args.health_listen,
        store_path: args.store,
        enclave_link: args.enclave_link,
        host_link: args.host_link,
        allow,
        max_connections: args.max_connections,
        launch,
        danger_test_faults: args.danger_test_faults,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let host = host::start(cfg).await?;
        // One machine-readable line for scripts and tests (port 0 resolves here).
        println!(
            "sealboost-host ready ingress={} health={}",
            host.ingress_addr, host.health_addr
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        host.shutdown().await;
        anyhow::Ok(())
    })
}
