//! Many hosts under MPI, on this machine: `mpirun -np 2` and `-np 3` (oversubscribed) of the
//! aopsbench binary. A run on `iomap:backing=mem` merges every rank's samples exactly; a diff
//! campaign finds a seeded bug on the rank that owns its seed; a rank given a bad target makes
//! the whole job exit 2, naming the rank, without a hang. Every mpirun is bounded by a timeout.
//!
//! Each test skips with one line when the binary was built without the `mpi` feature
//! (`cargo test -p harness --release --features mpi --test mpi`) or there is no `mpirun`.
//! Without the feature, the launcher test checks the refusal instead.

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_aopsbench");
/// Longest an mpirun of these tests may take; a hang fails the test instead of CI.
const TIMEOUT: Duration = Duration::from_secs(180);

/// `mpirun` and the options it needs here, or why the MPI tests cannot run.
fn mpirun() -> Result<Vec<String>, String> {
    if !cfg!(feature = "mpi") {
        return Err("built without the mpi feature (cargo test -p harness --release --features mpi --test mpi)".into());
    }
    let version = Command::new("mpirun").arg("--version").output().map_err(|_| "no mpirun on PATH".to_string())?;
    let mut cmd = vec!["mpirun".to_string()];
    if String::from_utf8_lossy(&version.stdout).contains("Open MPI") {
        // Oversubscribed: more ranks than this machine's cores.
        cmd.extend(["--allow-run-as-root", "--oversubscribe"].map(String::from));
    }
    Ok(cmd)
}

macro_rules! mpirun_or_skip {
    () => {
        match mpirun() {
            Ok(cmd) => cmd,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        }
    };
}

/// Runs `mpirun ARGS` (in its own process group), killing it after [`TIMEOUT`].
fn run_mpi(mpirun: &[String], args: &[String]) -> Output {
    let mut child = Command::new(&mpirun[0])
        .args(&mpirun[1..])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start mpirun");
    let t0 = Instant::now();
    loop {
        if child.try_wait().expect("wait for mpirun").is_some() {
            return child.wait_with_output().expect("mpirun output");
        }
        if t0.elapsed() > TIMEOUT {
            // SIGTERM: mpirun ends its ranks; then make sure.
            let pid = child.id() as i32;
            unsafe { libc::kill(-pid, libc::SIGTERM) };
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            let o = child.wait_with_output().expect("mpirun output");
            panic!("mpirun {args:?} still running after {TIMEOUT:?}: {}", text(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid json")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A 1-second random read/write job on `iomap:backing=mem` under `ranks` ranks: the merged
/// count is the sum of the ranks' counts, and the merged percentiles are those of one
/// histogram fed every rank's samples (read back from each rank's interval log). With
/// `apart`, the last rank works in another directory, where the relative `--out` is not rank
/// 0's run directory (as on a host without a shared filesystem): rank 0 writes its files.
/// Every rank's fio log (`write_iops_log`) is in its own `hosts/<host>-<rank>/`, with its own
/// count of I/Os.
fn merged_run(ranks: usize, apart: bool) {
    let mpirun = mpirun_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let job = dir.path().join("rw.fio");
    std::fs::write(&job, "[rw]\nrw=randrw\nbs=4k\nsize=8m\nruntime=1\ntime_based=1\nwrite_iops_log=rw\n").unwrap();
    let out = dir.path().join("run");
    let run = strings(&["run", job.to_str().unwrap(), "--target", "iomap:backing=mem", "--no-plot", "--out", "run"]);
    let together = if apart { ranks - 1 } else { ranks };
    let mut args = strings(&["-np", &together.to_string(), "-wdir", dir.path().to_str().unwrap(), BIN]);
    args.extend(run.clone());
    if apart {
        args.extend(strings(&[":", "-np", "1", "-wdir", elsewhere.path().to_str().unwrap(), BIN]));
        args.extend(run);
    }
    let o = run_mpi(&mpirun, &args);
    assert!(!elsewhere.path().join("run").exists(), "{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("IOPS per host ({ranks} hosts, merged above)")), "{stdout}");

    let run = json(&out.join("run.json"));
    let hosts = run["hosts"].as_array().expect("run.json lists the hosts");
    assert_eq!(hosts.len(), ranks);
    let merged = results::RunDir::load(&out).unwrap();
    let target = &merged.summary.jobs[0].targets[0];
    assert_eq!(target.spec, "iomap:backing=mem");
    let rows = results::hosts::read_host_rows(&out).unwrap();
    for op in ["read", "write"] {
        let mut all = results::new_histogram();
        let mut count = 0;
        for (rank, h) in hosts.iter().enumerate() {
            assert_eq!(h["rank"], rank);
            let own_dir = results::hosts::host_dir(&out, h["host"].as_str().unwrap(), rank as u32);
            let own = results::RunDir::load(&own_dir).unwrap();
            let c = own.summary.jobs[0].targets[0].ops[op].count;
            assert!(c > 0, "rank {rank} did no {op}");
            count += c;
            all.add(own.histogram("rw", "iomap", op).unwrap()).unwrap();
            assert!(rows.iter().any(|r| r.op == op && r.rank == rank as u32 && r.count == c));
        }
        let s = &target.ops[op];
        assert_eq!(s.count, count, "{op}: merged count is the sum of the ranks'");
        assert_eq!(s.count, all.len());
        let lat = results::LatencySummary::from_histogram(&all);
        assert_eq!(s.lat_ns, lat, "{op}: merged percentiles are those of every sample");
        assert_eq!(merged.histogram("rw", "iomap", op).unwrap().len(), count);
    }
    // Each rank's fio log in its own directory: one line per second, 0 (read) and 1 (write).
    for (rank, h) in hosts.iter().enumerate() {
        let own_dir = results::hosts::host_dir(&out, h["host"].as_str().unwrap(), rank as u32);
        let log = results::run_dir::fio_logs_dir(&own_dir, "iomap").join("rw_iops.1.log");
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("rank {rank}: {}: {e}", log.display()));
        assert!(text.lines().any(|l| l.split(", ").nth(2) == Some("1")), "rank {rank}: no write in {text}");
    }
}

#[test]
fn run_merges_two_ranks_exactly() {
    merged_run(2, false);
}

#[test]
fn run_merges_three_ranks_exactly_one_without_the_run_directory() {
    merged_run(3, true);
}

/// The campaign of the tests: seeds 1..8, 30 ops each of the fixed mix, on bh, iomap and
/// iomap with a seeded writeback bug, which shows within 30 ops on seeds 3 (op 22), 4 (op 30,
/// at the final whole-file check) and 8 (op 29) only.
const CAMPAIGN: [&str; 15] = [
    "diff",
    "--mix",
    "fixed",
    "--seeds",
    "1..8",
    "--ops",
    "30",
    "--target",
    "bh",
    "--target",
    "iomap",
    "--target",
    "iomap:bug=iomap_wb_drop_tail",
    "--shrink-time",
    "60",
];
/// The seeds [`CAMPAIGN`] finds the bug on.
const FOUND: [u64; 3] = [3, 4, 8];

/// Under 3 ranks, rank 2 owns seed 3, rank 0 seed 4 and rank 1 seed 8: each finding is
/// found, shrunk and reported by its owner, and collected by rank 0; the job exits 1, with no
/// rank's "interrupted" line.
#[test]
fn campaign_finds_a_seeded_bug_on_the_rank_that_owns_its_seed() {
    let mpirun = mpirun_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("campaign");
    let mut args = strings(&["-np", "3", BIN]);
    args.extend(strings(&CAMPAIGN));
    args.extend(strings(&["--out", out.to_str().unwrap()]));
    let o = run_mpi(&mpirun, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Rank 0's exit 1 makes mpirun end the ranks still exiting: quietly, nothing left to clean.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("interrupted"), "{}", text(&o));
    let doc = json(&out.join("campaign.json"));
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    let mut found: Vec<(u64, u64)> = Vec::new();
    for h in hosts {
        assert_eq!(h["left"], 0);
        for f in h["findings"].as_array().unwrap() {
            assert_eq!(f["rank"], h["rank"]);
            found.push((f["seed"].as_u64().unwrap(), f["rank"].as_u64().unwrap()));
            let minimal = f["minimal"].as_str().unwrap();
            let ops = workloads::trace::read_jsonl(minimal, "minimal").unwrap();
            assert!((1..=10).contains(&ops.len()), "{minimal}");
            assert!(f["replay"].as_str().unwrap().starts_with("aopsbench replay "));
        }
    }
    found.sort();
    let owners: Vec<(u64, u64)> = FOUND.iter().map(|&s| (s, (s - 1) % 3)).collect();
    assert_eq!(owners, vec![(3, 2), (4, 0), (8, 1)]);
    assert_eq!(found, owners, "{}", text(&o));
    let seeds_run: u64 = hosts.iter().map(|h| h["seeds"].as_u64().unwrap()).sum();
    assert_eq!(seeds_run, 8);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("(rank 2), iomap:bug=iomap_wb_drop_tail differ from the model at op 22"), "{stdout}");
    assert!(out.join("seed-3/minimal.jsonl").exists() && out.join("seed-8/divergence.json").exists());
}

/// Without MPI, `--seeds` runs the whole range on this host and finds the same seeds.
#[test]
fn campaign_on_one_host_finds_the_same_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("campaign");
    let o = Command::new(BIN).args(CAMPAIGN).args(["--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = json(&out.join("campaign.json"));
    let host = &doc["hosts"][0];
    assert_eq!((host["rank"].as_u64(), host["seeds"].as_u64(), host["left"].as_u64()), (Some(0), Some(8), Some(0)));
    let seeds: Vec<u64> = host["findings"].as_array().unwrap().iter().map(|f| f["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, FOUND);
}

/// `--duration` cuts a campaign: no seed starts after it, and the report says how many seeds
/// and ops the host covered.
#[test]
fn a_campaign_is_cut_by_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("campaign");
    let o = Command::new(BIN)
        // Seeds of 1000 ops: at least one ends within the 2 s even on a loaded machine (a seed
        // of diff's default 10000 ops did not, once, at ~3.5k ops/s).
        .args([
            "diff",
            "--seeds",
            "1..1000000",
            "--duration",
            "2",
            "--ops",
            "1000",
            "--target",
            "bh",
            "--target",
            "iomap",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("campaign over seeds 1..1000000: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains(" of 1000000 seeds run to the end, ") && line.ends_with(" 0 divergence(s)"), "{line}");
    let doc = json(&out.join("campaign.json"));
    let host = &doc["hosts"][0];
    let (seeds, left) = (host["seeds"].as_u64().unwrap(), host["left"].as_u64().unwrap());
    assert!(seeds >= 1 && left > 0 && host["ops"].as_u64().unwrap() >= seeds, "{host}");
    assert_eq!(seeds + left + u64::from(host["cut"].is_u64()), 1_000_000, "{host}");
}

/// The last of `ranks` ranks gets a target that cannot run (its backing directory does not
/// exist): the job exits 2 with one line naming that rank and why, and no rank hangs.
fn bad_target_on_one_rank(ranks: usize) {
    let mpirun = mpirun_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let good = strings(&["run", "quick", "--target", "iomap:backing=mem", "--no-plot", "--out", out.to_str().unwrap()]);
    let mut bad = good.clone();
    bad[3] = "iomap:backing=/nonexistent-aopsbench-dir/img".into();
    let mut args = strings(&["-np", &(ranks - 1).to_string(), BIN]);
    args.extend(good);
    args.extend(strings(&[":", "-np", "1", BIN]));
    args.extend(bad);
    let t0 = Instant::now();
    let o = run_mpi(&mpirun, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let line = stderr.lines().find(|l| l.starts_with("aopsbench: ")).unwrap_or_else(|| panic!("{stderr}"));
    let want = format!("aopsbench: rank {} on ", ranks - 1);
    assert!(line.starts_with(&want) && line.contains("/nonexistent-aopsbench-dir/img"), "{line}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("aopsbench: ")).collect();
    assert_eq!(ours, [line], "{stderr}");
    assert!(t0.elapsed() < TIMEOUT);
    assert!(!out.join("summary.json").exists());
}

#[test]
fn a_bad_target_on_one_of_two_ranks_exits_2() {
    bad_target_on_one_rank(2);
}

#[test]
fn a_bad_target_on_one_of_three_ranks_exits_2() {
    bad_target_on_one_rank(3);
}

/// Data that does not verify on one rank (a seeded writeback bug on rank 1's target) is a
/// problem found, as on one host: the job exits 1, not 2, with one line naming the rank and
/// the block; no rank hangs.
#[test]
fn a_verify_failure_on_one_rank_exits_1() {
    let mpirun = mpirun_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = |target: &str| {
        strings(&["run", "--target", target, "--no-plot", "--out", out.to_str().unwrap(), "--"])
            .into_iter()
            .chain(strings(&["--name=v", "--rw=randwrite", "--bs=3k", "--size=16m", "--verify=crc32c"]))
    };
    let mut args = strings(&["-np", "1", BIN]);
    args.extend(run("iomap:backing=mem:cache=2m"));
    args.extend(strings(&[":", "-np", "1", BIN]));
    args.extend(run("iomap:backing=mem:cache=2m:bug=iomap_wb_drop_tail"));
    let o = run_mpi(&mpirun, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("aopsbench: ")).collect();
    assert_eq!(ours.len(), 1, "{stderr}");
    assert!(
        ours[0].starts_with("aopsbench: rank 1 on ") && ours[0].contains(": verify: file v.0.0 offset "),
        "{stderr}"
    );
    assert!(!out.join("summary.json").exists());
}

/// Without the mpi feature, a start as one of several tasks (Open MPI's mpirun, or Slurm's
/// srun — told by the variables they set; Slurm is not installed here) is refused with one
/// line saying how to build with MPI (from task 0 only), and nothing is written.
#[test]
fn without_mpi_a_start_by_a_launcher_is_refused() {
    if cfg!(feature = "mpi") {
        println!("skipped: this binary has the mpi feature (the refusal is of builds without it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Task 0 says why; the other tasks refuse silently, so that N tasks print one line.
    let launchers: [(&[(&str, &str)], bool); 4] = [
        (&[("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_RANK", "0")], true),
        (&[("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_RANK", "1")], false),
        (&[("SLURM_JOB_ID", "7"), ("SLURM_STEP_ID", "0"), ("SLURM_STEP_NUM_TASKS", "4"), ("SLURM_PROCID", "0")], true),
        (&[("SLURM_JOB_ID", "7"), ("SLURM_STEP_ID", "0"), ("SLURM_STEP_NUM_TASKS", "4"), ("SLURM_PROCID", "3")], false),
    ];
    for (env, says) in launchers {
        let o = Command::new(BIN)
            .args(["run", "quick", "--target", "null", "--no-plot", "--out", out.to_str().unwrap()])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(stderr.lines().count(), usize::from(says), "{env:?}: {stderr}");
        if says {
            assert!(stderr.contains("built without MPI") && stderr.contains("--features mpi"), "{stderr}");
        }
        assert!(!out.exists());
    }
    // A batch script of a Slurm job is not one of several tasks: it runs.
    let o = Command::new(BIN)
        .args(["run", "--target", "null", "--no-plot", "--out", out.to_str().unwrap()])
        .args(["--", "--name=w", "--rw=write", "--bs=4k", "--size=1m"])
        .envs([("SLURM_JOB_ID", "7"), ("SLURM_NTASKS", "4"), ("SLURM_PROCID", "0")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The loop devices attached to an image under `dir`, and where each is mounted.
fn loops_under(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else { continue };
        if Path::new(backing.trim()).starts_with(dir) {
            let dev = format!("/dev/{name} ");
            let at = mounts.lines().filter(|l| l.starts_with(&dev)).map(|l| l.split(' ').nth(1).unwrap().to_string());
            found.push((name, at.collect()));
        }
    }
    found
}

/// Ctrl-C at the terminal (SIGINT to mpirun's process group) during a run on ext4 targets:
/// every rank unmounts, detaches and deletes what it made, although Open MPI kills the ranks
/// one second after its SIGTERM.
#[test]
fn ctrl_c_under_mpirun_cleans_every_rank() {
    let mpirun = mpirun_or_skip!();
    let root = unsafe { libc::geteuid() } == 0;
    let mkfs = Command::new("mkfs.ext4").arg("-V").output().is_ok();
    if !root || !mkfs || !Path::new("/dev/loop-control").exists() {
        println!("skipped: ext4 targets need root, mkfs.ext4 and loop devices");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("images");
    std::fs::create_dir(&backing).unwrap();
    for rank in 0..2 {
        std::fs::create_dir(backing.join(rank.to_string())).unwrap();
    }
    let job = dir.path().join("t.fio");
    std::fs::write(&job, "[t]\nrw=randwrite\nbs=4k\nsize=64m\nruntime=60\ntime_based=1\n").unwrap();
    let target = format!("ext4:size=256m:backing={}/{{rank}}", backing.display());
    let mut child = Command::new(&mpirun[0])
        .args(&mpirun[1..])
        .args(["-np", "2", BIN, "run", job.to_str().unwrap(), "--target", &target, "--no-plot", "--out"])
        .arg(dir.path().join("run"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Both ranks measuring: two loop devices of ours, mounted.
    let t0 = Instant::now();
    let mut mounted = Vec::new();
    while t0.elapsed() < Duration::from_secs(60) {
        let loops = loops_under(&backing);
        if loops.len() == 2 && loops.iter().all(|(_, at)| at.len() == 1) {
            mounted = loops.into_iter().flat_map(|(_, at)| at).collect();
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "mpirun ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(mounted.len(), 2, "the ranks did not mount their targets within a minute");
    std::thread::sleep(Duration::from_secs(2));
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let t1 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t1.elapsed() < Duration::from_secs(60), "mpirun still running a minute after Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("aopsbench: interrupted; cleaning up"), "{}", text(&o));
    assert_eq!(loops_under(&backing), vec![], "loop devices left attached: {}", text(&o));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    for m in &mounted {
        assert!(!mounts.contains(&format!(" {m} ")), "{m} still mounted");
        assert!(!Path::new(m).exists(), "mount point {m} left behind");
    }
    for rank in 0..2 {
        let left: Vec<_> = std::fs::read_dir(backing.join(rank.to_string())).unwrap().flatten().collect();
        assert!(left.is_empty(), "rank {rank} left {left:?}");
    }
}
