//! `tern`: publish, subscribe and benchmark against an MQTT 3.1.1 / 5.0
//! broker, with options in the style of `mosquitto_pub` / `mosquitto_sub`.
//!
//! Exit codes: 0 on success, 1 when the work failed (connection, refused
//! publish), 2 for bad arguments, 27 when `sub -W` ran out (mosquitto's
//! code). Every error is one line on stderr starting with `tern: `
//! (nothing with `--quiet`).

mod bench;
mod common;
mod conn;
mod network;
mod pipeline;
mod props;
mod publish;
mod subscribe;
mod tls;
mod url;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "tern",
    version,
    about = "MQTT 3.1.1 / 5.0 command-line client: publish, subscribe, benchmark",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Print the version.
    #[arg(long, action = ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands: `pub`, `sub` and `bench`.
#[derive(Subcommand, Debug)]
enum Command {
    /// Publish a message (-m, -f, -s, -n) or one per line of stdin (-l),
    /// as mosquitto_pub.
    #[command(disable_help_flag = true)]
    Pub(publish::PubArgs),
    /// Subscribe to topic filters and print the messages, as mosquitto_sub.
    #[command(disable_help_flag = true)]
    Sub(subscribe::SubArgs),
    /// Load a broker: pub, sub and conn modes, alone or together; connect
    /// rate, throughput, latency, loss and duplicates.
    #[command(disable_help_flag = true)]
    Bench(bench::BenchArgs),
}

/// A clap error as one line: its first paragraph, without `error: `.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    let line = paragraph.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    if line.is_empty() {
        "invalid arguments".to_owned()
    } else {
        line.to_owned()
    }
}

/// Parses the command line, with the -D groups of each occurrence.
fn parse() -> Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let groups: Vec<Vec<String>> = matches
        .subcommand()
        .and_then(|(_, m)| m.get_occurrences::<String>("property_words"))
        .map(|occ| occ.map(|words| words.cloned().collect()).collect())
        .unwrap_or_default();
    match &mut cli.command {
        Command::Pub(a) => a.conn.properties = groups,
        Command::Sub(a) => a.conn.properties = groups,
        Command::Bench(a) => a.conn.properties = groups,
    }
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                | ErrorKind::MissingSubcommand => {
                    eprintln!("tern: a subcommand is needed: pub, sub or bench (see --help)");
                    ExitCode::from(2)
                }
                _ => {
                    eprintln!("tern: {} (see --help)", one_line(&e));
                    ExitCode::from(2)
                }
            };
        }
    };
    let conn = match &cli.command {
        Command::Pub(a) => &a.conn,
        Command::Sub(a) => &a.conn,
        Command::Bench(a) => &a.conn,
    };
    let (debug, quiet) = (conn.debug, conn.quiet);
    common::set_quiet(quiet);
    init_tracing(debug);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tern: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Pub(a) => publish::run(a).await,
            Command::Sub(a) => subscribe::run(a).await,
            Command::Bench(a) => bench::run(a).await,
        }
    });
    // Do not wait for stray tasks (stdin readers, closing connections).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !quiet {
                eprintln!("tern: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to stderr: off unless `RUST_LOG` is set or `-d` was given.
/// `-d` is the packet trace: one line per packet sent or received
/// ("sending PUBLISH (d0, q1, r0, m1, 'a/b', 5 bytes payload) 12 bytes"),
/// like mosquitto's debug lines, plus the library's warnings.
fn init_tracing(debug: bool) {
    use tern_mqtt::codec::PACKET_TARGET;
    use tracing_subscriber::EnvFilter;
    if debug {
        // The packet events' structured fields (packet, packet_id, size)
        // repeat what their summary says; a warning's fields are kept.
        let fields =
            tracing_subscriber::fmt::format::debug_fn(|w, field, value| match field.name() {
                "message" => write!(w, "{value:?}"),
                "packet" | "packet_id" | "size" => Ok(()),
                name => write!(w, " {name}={value:?}"),
            });
        let _ = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_env_filter(EnvFilter::new(format!(
                "tern_mqtt=warn,{PACKET_TARGET}=trace"
            )))
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .with_level(false)
            .try_init();
        return;
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
