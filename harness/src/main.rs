//! The `aopsbench` command. Exit status: 0 ok, 1 a problem found (divergence, regression),
//! 2 could not run.

use clap::Parser;
use harness::cli::{Cli, Command};
use harness::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Err(e) = harness::targets::install_signal_cleanup() {
        eprintln!("aopsbench: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            eprintln!("aopsbench: {}", clap_one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let outcome = match &cli.command {
        Command::Run(args) => commands::run::run(args, &argv).map(|_| true),
        Command::Plot { run_dir } => commands::report::plot(run_dir).map(|_| true),
        Command::Compare { run_a, run_b, markdown } => commands::report::compare(run_a, run_b, *markdown).map(|_| true),
        Command::Gate(args) => commands::report::gate(args),
        Command::Targets => commands::targets::list().map(|_| true),
        Command::Diff(args) => commands::diff::diff(args, &argv),
        Command::Replay(args) => commands::diff::replay(args, &argv),
        Command::Crash(args) => commands::crash::crash(args, &argv),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(_) if harness::targets::cleanup::interrupted() => {
            // The signal handler is tearing the targets down and will exit with 130.
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("aopsbench: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// A command-line error from clap on one line: the error and its tip, without the usage block.
fn clap_one_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("For more information") {
            continue;
        }
        if line.starts_with("Usage:") {
            break;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    format!("{} (see --help)", parts.join("; "))
}
