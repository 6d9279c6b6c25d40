//! `fcemu destinations`: what a project's asynchronous invocations delivered to the destinations that do not
//! run locally (MNS queues and topics, EventBridge, RocketMQ), read from `.fcemu/destinations/deliveries.jsonl`
//! where `up` writes one line per delivery. It reads the file, so it works with `up` stopped too.

use crate::commands::args::Format;
use crate::failure::Failure;
use crate::output::printable;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

/// Print what asynchronous invocations delivered to destinations that do not run locally
#[derive(clap::Args)]
pub struct Args {
    /// The project folder (default: this one)
    dir: Option<PathBuf>,
    /// Keep printing deliveries as they come (Ctrl-C to stop)
    #[arg(short, long)]
    follow: bool,
    /// text: a line per delivery; json: each delivery as `up` wrote it, with FC's destination event
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let file = args
        .dir
        .unwrap_or_else(|| PathBuf::from("."))
        .join(crate::state::DIR)
        .join("destinations/deliveries.jsonl");
    let (mut read, mut partial) = (0u64, Vec::new());
    loop {
        match std::fs::File::open(&file) {
            Ok(mut f) => {
                let mut fresh = Vec::new();
                f.seek(SeekFrom::Start(read))
                    .and_then(|_| f.read_to_end(&mut fresh))
                    .map_err(|e| Failure::user(format!("reading {}: {e}", file.display())))?;
                read += fresh.len() as u64;
                partial.extend_from_slice(&fresh);
                // Only whole lines: `up` may be writing the next one.
                while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=end).collect();
                    if let Ok(delivery) = serde_json::from_slice::<Value>(&line) {
                        print(&delivery, args.format);
                    }
                }
            }
            Err(_) if !args.follow => {
                crate::output::note(&format!(
                    "nothing was delivered to a destination that does not run locally ({} is not there)",
                    file.display()
                ));
                return Ok(());
            }
            Err(_) => {}
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print(delivery: &Value, format: Format) {
    match format {
        Format::Json => println!("{delivery}"),
        Format::Text => {
            let event = &delivery["event"];
            let context = &event["requestContext"];
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            let condition = match s(&context["condition"]) {
                c if c.is_empty() => "success".to_string(),
                c => c,
            };
            println!(
                "{}  {}  {}  {}  {}",
                printable(&s(&delivery["ts"])),
                printable(&s(&delivery["destination"])),
                printable(&s(&delivery["functionName"])),
                printable(&condition),
                printable(&s(&context["requestId"])),
            );
        }
    }
}
