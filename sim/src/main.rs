//! unbusy-sim: a local stand-in for chat.deepseek.com, over HTTPS on loopback.
//!
//! It serves a small chat page (strict CSP, no inline script) that talks to the generation
//! routes like DeepSeek's own page does, and answers those routes from the wire fixtures in
//! `tests/fixtures/wire`, following a scenario: a list of fixtures, the last one repeating.
//! Every request is logged with a timestamp so tests can read what the browser did.

mod api;
mod faults;
mod fixtures;
mod scenario;
mod server;

use std::path::PathBuf;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut options = server::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--port" => options.port = value().parse().unwrap_or_else(|_| usage("bad --port")),
            "--fixtures" => options.fixtures = PathBuf::from(value()),
            "--log" => options.log_file = Some(PathBuf::from(value())),
            "--frame-delay-ms" => options.frame_delay_ms = value().parse().unwrap_or_else(|_| usage("bad --frame-delay-ms")),
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if let Err(error) = server::run(options).await {
        eprintln!("unbusy-sim: {error}");
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("unbusy-sim: {problem}");
    }
    eprintln!("usage: unbusy-sim [--port N] [--fixtures DIR] [--log FILE] [--frame-delay-ms N]");
    std::process::exit(2);
}
