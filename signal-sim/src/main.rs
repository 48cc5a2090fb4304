//! `signal-sim serve`: run the stand-in Signal service until interrupted.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "signal-sim",
    about = "A local stand-in for the Signal chat service"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve until SIGINT/SIGTERM. Prints `signal-sim ready addr=IP:PORT ca=DIR/ca.pem`.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where ca.pem and sealed-sender-root.pub are written.
        #[arg(long)]
        dir: PathBuf,
        /// Extra server-certificate names (DNS names or IP literals); repeatable.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Accept any verification code instead of the one printed to the log.
        #[arg(long)]
        accept_any_code: bool,
        /// Token-bucket size per (sender, recipient); 0 disables rate limiting.
        #[arg(long, default_value_t = 60)]
        rate_burst: u32,
        /// Tokens refilled per second.
        #[arg(long, default_value_t = 1.0)]
        rate_per_sec: f64,
        /// Answer sends from this e164 with 428 (test trigger); repeatable.
        #[arg(long = "challenge-sender")]
        challenge_senders: Vec<String>,
        /// Status of a rate-limited send, always with Retry-After: 429, or 413 (the real
        /// service's older mapping).
        #[arg(long, default_value = "429")]
        rate_limit_status: signal_sim::RateLimitStatus,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "signal_sim=info".into()),
        )
        .init();
    let Cli {
        cmd:
            Cmd::Serve {
                listen,
                dir,
                names,
                accept_any_code,
                rate_burst,
                rate_per_sec,
                challenge_senders,
                rate_limit_status,
            },
    } = Cli::parse();
    let mut config = signal_sim::Config::new(listen);
    config.dir = Some(dir.clone());
    config.names = names;
    config.accept_any_code = accept_any_code;
    config.rate_burst = rate_burst;
    config.rate_per_sec = rate_per_sec;
    config.challenge_senders = challenge_senders;
    config.rate_limit_status = rate_limit_status;
    let handle = signal_sim::Server::start(config).await?;
    println!(
        "signal-sim ready addr={} ca={}",
        handle.addr(),
        dir.join(signal_sim::CA_FILE).display()
    );
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
