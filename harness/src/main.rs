//! The `aopsbench` command. Exit status: 0 ok, 1 a problem found (divergence, regression),
//! 2 could not run.

use clap::Parser;
use harness::cli::{Cli, Command};
use harness::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Bare `aopsbench`: the command list, on stderr, and the status of a usage error.
            eprint!("{}", e.render());
            return ExitCode::from(2);
        }
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
    if matches!(cli.command, Command::Plot { .. } | Command::Report(_) | Command::Compare { .. } | Command::Gate(_)) {
        // These only read run directories and print: a closed pipe (`| head`) ends them
        // quietly, as it does other Unix tools, instead of a panic in println!. Commands that
        // make targets keep SIGPIPE ignored, so that their cleanup always runs.
        // SAFETY: restoring a signal's default disposition has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let ranks = match harness::ranks::start() {
        Ok(r) => r,
        Err(line) => {
            if let Some(line) = line {
                eprintln!("aopsbench: {line}");
            }
            return ExitCode::from(2);
        }
    };
    // Nothing to clean up before this point: a task refused above ends quietly however soon
    // the launcher ends it (Open MPI's mpirun ends every task once one exits non-zero).
    if let Err(e) = harness::targets::install_signal_cleanup() {
        eprintln!("aopsbench: {e}");
        return ExitCode::from(2);
    }
    let outcome = match &cli.command {
        _ if ranks.size() > 1 && !runs_on_many(&cli.command) => Err(anyhow::anyhow!(
            "under mpirun or srun, aopsbench runs `run` and `diff --seeds A..B`; start the others on one host, \
             without the launcher"
        )),
        Command::Run(args) => commands::run::run(args, &argv).map(|_| true),
        Command::Plot { run_dir } => commands::report::plot(run_dir).map(|_| true),
        Command::Report(args) => commands::report::report(args).map(|_| true),
        Command::Compare { run_a, run_b, markdown, plots } => {
            commands::report::compare(run_a, run_b, *markdown, plots.as_deref()).map(|_| true)
        }
        Command::Gate(args) => commands::report::gate(args),
        Command::Targets => commands::targets::list().map(|_| true),
        Command::Diff(args) => commands::diff::diff(args, &argv),
        Command::Replay(args) => commands::diff::replay(args, &argv),
        Command::Crash(args) => commands::crash::crash(args, &argv),
    };
    if ranks.size() > 1 && !harness::targets::cleanup::interrupted() {
        if let Err(e) = &outcome {
            harness::ranks::fail_together(e, &one_line(e), failure_status(e));
        }
        harness::ranks::finish_quietly();
    }
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(_) if harness::targets::cleanup::interrupted() => {
            // The signal handler is tearing the targets down and will exit with 130.
            loop {
                std::thread::park();
            }
        }
        Err(e) if failure_status(&e) == 1 => {
            eprintln!("aopsbench: {}", one_line(&e));
            ExitCode::from(1)
        }
        Err(e) => {
            // A job file's problems are all listed, one per line.
            for line in one_line(&e).lines() {
                eprintln!("aopsbench: {line}");
            }
            ExitCode::from(2)
        }
    }
}

/// The exit status of a failed command: 1 for data that does not verify (a problem found,
/// not a failure to run), else 2.
fn failure_status(e: &anyhow::Error) -> u8 {
    let verify = e
        .downcast_ref::<harness::runner::RunError>()
        .is_some_and(|r| matches!(r, harness::runner::RunError::Verify { .. }));
    if verify { 1 } else { 2 }
}

/// Whether a command runs on several ranks at once (the others would repeat each other).
fn runs_on_many(command: &Command) -> bool {
    match command {
        Command::Run(_) => true,
        Command::Diff(args) => args.seeds.is_some(),
        _ => false,
    }
}

/// The error and its causes on one line (a job file's several problems keep a line each).
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
