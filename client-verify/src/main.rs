//! `sealboost`: the admin / operator command line.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client_verify::attest_cli::{self, AttestCommand};
use client_verify::channel_cli::{self, ChannelCommand, Connection};
use client_verify::lifecycle_cli::{self, AdminCommand, KeyCommand, Lifecycle, ProposalsCommand};
use client_verify::signal_cli::{self, SignalCommand};

#[derive(Debug, Parser)]
#[command(
    name = "sealboost",
    version,
    about = "sealboost admin and operator tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct ChannelArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    cmd: ChannelCommand,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    conn: Connection,
    channel: String,
}

#[derive(Debug, clap::Args)]
struct AdminArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    cmd: AdminCommand,
}

#[derive(Debug, clap::Args)]
struct KeyArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    cmd: KeyCommand,
}

#[derive(Debug, clap::Args)]
struct ProposalsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    cmd: ProposalsCommand,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remote attestation: verify or inspect evidence by hand.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// Channels: create, inspect, change settings and members (needs the channel key).
    Channel(ChannelArgs),
    /// How many messages wait in a channel's mailbox (sends no key).
    Status(StatusArgs),
    /// Act as an admin: broadcast, private, reply, mailbox.
    #[command(flatten)]
    Signal(SignalCommand),
    /// Admins: invite (one-time passphrase over Signal), remove (full re-key), accept, threshold.
    Admin(AdminArgs),
    /// The channel key: rotate, catch up after others rotated.
    Key(KeyArgs),
    /// Proposals for key changes: list, approve, reject.
    Proposals(ProposalsArgs),
    /// Get asked to unlock: hold the events stream (push) or poll; manual or auto mode.
    Watch(client_verify::watch::WatchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help / --version print and exit 0; real usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(attest_cli::EXIT_USAGE));
        }
    };
    match &cli.command {
        Command::Attest(cmd) => attest_cli::run(cmd),
        Command::Channel(a) => channel_cli::run(&a.conn, &a.cmd),
        Command::Status(a) => channel_cli::status(&a.conn, &a.channel),
        Command::Signal(cmd) => signal_cli::run(cmd),
        Command::Admin(a) => lifecycle_cli::run(&a.conn, Lifecycle::Admin(&a.cmd)),
        Command::Key(a) => lifecycle_cli::run(&a.conn, Lifecycle::Key(&a.cmd)),
        Command::Proposals(a) => lifecycle_cli::run(&a.conn, Lifecycle::Proposals(&a.cmd)),
        Command::Watch(a) => client_verify::watch::run(a),
    }
}
