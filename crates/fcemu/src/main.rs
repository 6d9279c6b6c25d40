//! fcemu: Function Compute's instance lifecycle, locally, on Docker.

mod build_env;
mod builtin;
mod client;
mod commands;
mod credentials;
mod custom;
mod failure;
mod gpu;
mod images;
mod java;
mod layers;
mod output;
mod report;
mod shipped;
mod state;
mod storage;

// Every request allocates and frees many small buffers (headers, records), some of them freed on the
// printer's thread: mimalloc's thread-local free lists make that a fraction of glibc malloc's cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use commands::Command;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fcemu",
    version,
    about = "Run Alibaba Cloud Function Compute functions locally, with their real lifecycle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FCEMU_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !cli.command.serves() {
        // A client command piped into `head` ends quietly when the reader goes, as command-line tools do
        // (Rust ignores SIGPIPE, and printing would panic). Not `up`: it must outlive a closed pipe to
        // destroy its instances.
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // One worker by default: fcemu's work is I/O, and on a small machine that the client and the functions
    // share, every wake-up across worker threads is a context switch on the request path.
    let workers = std::env::var("FCEMU_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    // With one worker, the current-thread scheduler: a wake-up is a queue push, with none of the
    // multi-thread scheduler's cross-thread bookkeeping on every request.
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            output::error(&format!("cannot start its async runtime: {e}"));
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(cli.command.run());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::error(failure.message.trim_end());
            ExitCode::from(failure.code)
        }
    }
}
