//! `signal-phone`: a simulated Signal phone on the command line (tests and the demo).
//!
//! ```text
//! signal-phone --server HOST:PORT --ca CA.pem --trust-root ROOT.pub --state FILE register --number +15550001
//! signal-phone … send --to +15550002 --text "hello" [--attach FILE]
//! signal-phone … --hide-number send --to +15550002 --text "hello"
//! signal-phone … receive [--wait SECS] [--json] [--save-attachments DIR]
//! signal-phone … set-timer --to +15550002 --seconds 604800
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use signal_client::phone::Phone;
use signal_client::transport::{TcpConnector, TlsTrust, DEFAULT_MAX_CONNECTIONS};
use signal_client::ServiceConfig;

#[derive(Parser)]
#[command(about = "A simulated Signal phone (libsignal, real wire API)")]
struct Cli {
    /// The service, HOST:PORT.
    #[arg(long)]
    server: String,
    /// The service's TLS root (PEM or DER), pinned.
    #[arg(long)]
    ca: PathBuf,
    /// The sealed-sender trust root (base64 of the 33-byte key, or the raw key).
    #[arg(long)]
    trust_root: PathBuf,
    /// The phone's state file (created 0600 by `register`).
    #[arg(long)]
    state: PathBuf,
    /// TLS server name (default: the host part of --server).
    #[arg(long)]
    server_name: Option<String>,
    /// Send without our number: the sealed-sender certificate is fetched with
    /// `includeE164=false` (the app's "who can see my number: nobody").
    #[arg(long)]
    hide_number: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register a number.
    Register {
        #[arg(long)]
        number: String,
        /// The verification code (the sim prints it, or accepts any with --accept-any-code).
        #[arg(long, default_value = "000000")]
        code: String,
    },
    /// Send a text (and optionally one attachment).
    Send {
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        attach: Option<PathBuf>,
    },
    /// Print (and acknowledge) received messages.
    Receive {
        /// Seconds to wait for messages.
        #[arg(long, default_value_t = 5)]
        wait: u64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Download attachments into this directory.
        #[arg(long)]
        save_attachments: Option<PathBuf>,
    },
    /// Set the disappearing-message timer for a chat.
    SetTimer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        seconds: u32,
    },
}

fn config(cli: &Cli) -> anyhow::Result<ServiceConfig> {
    let ca = std::fs::read(&cli.ca).context("reading --ca")?;
    let name = match &cli.server_name {
        Some(n) => n.clone(),
        None => cli
            .server
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            .context("--server must be HOST:PORT")?,
    };
    let tls = TlsTrust::pinned(&ca, &name)?;
    let raw = std::fs::read(&cli.trust_root).context("reading --trust-root")?;
    let key = if raw.len() == 33 {
        raw
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(String::from_utf8_lossy(&raw).trim())
            .context("--trust-root is neither a 33-byte key nor base64")?
    };
    let trust_root = libsignal_protocol::PublicKey::deserialize(&key)
        .map_err(|_| anyhow::anyhow!("--trust-root is not a public key"))?;
    Ok(ServiceConfig {
        connector: Arc::new(TcpConnector::new(cli.server.clone())),
        tls,
        trust_root,
        max_connections: DEFAULT_MAX_CONNECTIONS,
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The store's futures are !Send: run everything on this thread.
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = config(&cli)?;
    match &cli.cmd {
        Cmd::Register { number, code } => {
            if cli.state.exists() {
                bail!(
                    "{} exists; refusing to overwrite a registered phone",
                    cli.state.display()
                );
            }
            let p = Phone::register(&cfg, number, code, Some(&cli.state)).await?;
            println!("registered {} as {}", p.e164(), p.aci().service_id_string());
        }
        Cmd::Send { to, text, attach } => {
            let mut p = Phone::load(&cfg, &cli.state)?;
            p.set_share_number(!cli.hide_number);
            let r = match attach {
                Some(f) => {
                    let data = std::fs::read(f).context("reading --attach")?;
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    p.send_attachment(
                        to,
                        text.as_deref(),
                        &data,
                        "application/octet-stream",
                        name.as_deref(),
                    )
                    .await?
                }
                None => p.send_text(to, text.as_deref().unwrap_or("")).await?,
            };
            println!(
                "sent to {to} ({} device(s){}{})",
                r.devices,
                if r.sealed { ", sealed sender" } else { "" },
                if r.identity_changed {
                    ", SAFETY NUMBER CHANGED"
                } else {
                    ""
                }
            );
        }
        Cmd::Receive {
            wait,
            json,
            save_attachments,
        } => {
            let mut p = Phone::load(&cfg, &cli.state)?;
            let msgs = p.receive_for(Duration::from_secs(*wait)).await?;
            for m in msgs {
                let mut saved = Vec::new();
                if let Some(dir) = save_attachments {
                    std::fs::create_dir_all(dir)?;
                    for (i, a) in m.attachments.iter().enumerate() {
                        let data = p.download(a).await?;
                        let name = a
                            .file_name
                            .as_deref()
                            .and_then(|n| std::path::Path::new(n).file_name())
                            .map_or_else(
                                || format!("attachment-{}-{i}", m.timestamp),
                                |n| n.to_string_lossy().into_owned(),
                            );
                        let path = dir.join(name);
                        std::fs::write(&path, &data[..])?;
                        saved.push(path.display().to_string());
                    }
                }
                let from = m
                    .from_e164
                    .clone()
                    .unwrap_or_else(|| m.from_aci.service_id_string());
                if *json {
                    let v = serde_json::json!({
                        "from": m.from_e164,
                        "from_aci": m.from_aci.service_id_string(),
                        "body": m.body,
                        "expire_timer": m.expire_timer,
                        "timer_update": m.is_timer_update,
                        "attachments": m.attachments.iter().map(|a| serde_json::json!({
                            "file_name": a.file_name, "content_type": a.content_type, "size": a.size,
                        })).collect::<Vec<_>>(),
                        "saved": saved,
                        "timestamp": m.timestamp,
                        "sealed_sender": m.sealed_sender,
                        "identity_changed": m.identity_changed,
                    });
                    println!("{v}");
                } else if m.is_timer_update {
                    println!(
                        "{from}: set the disappearing-message timer to {}s",
                        m.expire_timer.unwrap_or(0)
                    );
                } else {
                    println!("{from}: {}", m.body.as_deref().unwrap_or(""));
                    for a in &m.attachments {
                        println!(
                            "  [attachment {} bytes {}]",
                            a.size.unwrap_or(0),
                            a.file_name.as_deref().unwrap_or("")
                        );
                    }
                }
            }
        }
        Cmd::SetTimer { to, seconds } => {
            let mut p = Phone::load(&cfg, &cli.state)?;
            p.set_share_number(!cli.hide_number);
            p.set_timer(to, *seconds).await?;
            println!("timer for {to} set to {seconds}s");
        }
    }
    Ok(())
}
