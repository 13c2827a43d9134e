//! How a message is printed: the payload (-v: topic first), a -F format,
//! or a --json line; then an end of line unless -N.

use super::format::{Format, Received};
use super::SubArgs;
use crate::common::CliError;
use std::io::Write;
use std::time::SystemTime;
use tern_mqtt::client::Message;

/// The output mode of `tern sub`.
enum Mode {
    Payload { verbose: bool },
    Format(Format),
    Json,
}

/// Prints messages to stdout.
pub struct Output {
    mode: Mode,
    eol: bool,
    /// --random-filter as a probability, 0.0 to 1.0.
    keep: Option<f64>,
}

impl Output {
    /// The output -v, -F, --json, -N, --pretty and --random-filter ask for.
    pub fn new(args: &SubArgs) -> Result<Output, CliError> {
        let mode = match (&args.format, args.json) {
            (Some(spec), _) => Mode::Format(Format::parse(spec, args.pretty)?),
            (None, true) => Mode::Json,
            (None, false) => Mode::Payload {
                verbose: args.verbose,
            },
        };
        Ok(Output {
            mode,
            eol: !args.no_eol,
            keep: args.random_filter.map(|p| p / 100.0),
        })
    }

    /// Whether --random-filter lets this message through.
    pub fn chosen(&self) -> bool {
        self.keep.is_none_or(|p| fastrand::f64() < p)
    }

    /// Prints one message.
    pub fn print(&self, msg: &Message) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match &self.mode {
            Mode::Json => out.write_all(super::to_json(msg).to_string().as_bytes())?,
            Mode::Format(f) => out.write_all(&f.render(Received::from(msg), SystemTime::now()))?,
            Mode::Payload { verbose } => {
                if *verbose {
                    out.write_all(msg.topic.as_str().as_bytes())?;
                    out.write_all(b" ")?;
                }
                out.write_all(&msg.payload)?;
            }
        }
        if self.eol {
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}
