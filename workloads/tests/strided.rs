//! `zonemode=strided`: the offsets a job visits, as fio 3.33 visits them. Each expected list is
//! what fio 3.33 wrote to `write_iolog` for the same options (`fio --name=x --filename=F
//! --ioengine=psync --bs=64k --zonemode=strided --write_iolog=LOG ...`), in 64 KiB blocks.

use std::collections::BTreeSet;

use workloads::{JobFile, Op};

/// The blocks (offset / 64 KiB) of the reads and writes of `options` (fio's long options, one
/// a line), at most `max` of them.
fn blocks(options: &str, max: usize) -> Vec<u64> {
    let text = format!("[x]\nbs=64k\nzonemode=strided\n{options}");
    let job = JobFile::parse(&text, "t.fio", false).unwrap_or_else(|e| panic!("{e}")).jobs.remove(0);
    job.threads()[0]
        .ops
        .clone()
        .filter_map(|op| match op {
            Op::Read { offset, len, .. } | Op::Write { offset, len, .. } => {
                assert_eq!(len, 64 << 10, "{options}");
                Some(offset / (64 << 10))
            }
            _ => None,
        })
        .take(max)
        .collect()
}

/// `pattern` repeated `times` times.
fn times(pattern: &[u64], times: usize) -> Vec<u64> {
    pattern.repeat(times)
}

#[test]
fn sequential_zones_are_fios() {
    // zonesize 256k of every 1m: four blocks, skip twelve, wrapping at the file's end until the
    // job's 4m are done (examples/disk-zone-profile.fio, scaled down).
    assert_eq!(
        blocks("rw=read\nsize=4m\nzonesize=256k\nzoneskip=768k\n", 1000),
        times(&[0, 1, 2, 3, 16, 17, 18, 19, 32, 33, 34, 35, 48, 49, 50, 51], 4)
    );
    // zonesize above zonerange: each 256k zone is read twice before the next.
    let twice: Vec<u64> = (0..8).flat_map(|z| [0, 1, 2, 3, 0, 1, 2, 3].map(|b| 8 * z + b)).collect();
    assert_eq!(blocks("rw=read\nsize=4m\nzonesize=512k\nzonerange=256k\nzoneskip=256k\n", 1000), twice);
    // zonesize below zonerange: two blocks of each 512k zone, the next zone 768k on.
    let part = [0, 1, 12, 13, 24, 25, 36, 37, 48, 49, 60, 61];
    let mut want = times(&part, 5);
    want.extend([0, 1, 12, 13]);
    assert_eq!(blocks("rw=read\nsize=4m\nzonesize=128k\nzonerange=512k\nzoneskip=256k\n", 1000), want);
    // zoneskip=0: plain sequential.
    assert_eq!(blocks("rw=read\nsize=4m\nzonesize=256k\nzoneskip=0\n", 1000), (0..64).collect::<Vec<_>>());
    // offset=: zones start at the offset and wrap back to it.
    let from: Vec<u64> = (0..8).flat_map(|z| [16, 17, 18, 19].map(|b| b + 8 * z)).collect();
    assert_eq!(blocks("rw=read\nsize=4m\noffset=1m\nzonesize=256k\nzoneskip=256k\n", 1000), times(&from, 2));
}

#[test]
fn a_zone_past_the_file_end_wraps_or_ends_as_fio() {
    // 192k of each 256k zone of a 1m file: the fifth zone (1m) is past the end, so back to 0.
    let four = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14];
    let mut want = four.to_vec();
    want.extend([0, 1, 2, 4]);
    assert_eq!(blocks("rw=read\nsize=1m\nzonesize=192k\nzonerange=256k\n", 1000), want);
    // loops=2: fio's do_io runs both loops' bytes in one go, the zones going on.
    let mut want = times(&four, 2);
    want.extend([0, 1, 2, 4, 5, 6, 8, 9]);
    assert_eq!(blocks("rw=read\nsize=1m\nzonesize=192k\nzonerange=256k\nloops=2\n", 1000), want);
    assert_eq!(blocks("rw=read\nsize=1m\nzonesize=192k\nzonerange=256k\nio_size=2m\n", 1000), {
        let mut w = times(&four, 2);
        w.extend([0, 1, 2, 4, 5, 6, 8, 9]);
        w
    });
    // 192k zones of a 1m file with io_size=2m: the zone at 960k runs out of file after one
    // block; the file is done, and fio's keep_running starts over from the start.
    assert_eq!(blocks("rw=read\nsize=1m\nio_size=2m\nzonesize=192k\n", 1000), times(&(0..16).collect::<Vec<_>>(), 2));
    // time_based: at the region's end a sequential job goes back to its zone's start (fio's
    // get_next_seq_offset), here the last block twice more, then zones start over.
    let mut one = (0..16).collect::<Vec<u64>>();
    one.extend([15, 15]);
    assert_eq!(blocks("rw=read\nsize=1m\nzonesize=192k\ntime_based\nruntime=1\n", 54), times(&one, 3));
}

#[test]
fn a_queued_engine_starts_the_zones_over_after_size_bytes_as_fio() {
    // fio's do_io stops after `size` bytes issued, but counts only queued I/O: with libaio,
    // io_uring (or null at iodepth above 1) keep_running then starts the zones over; with
    // psync they go on. fio 3.33, size=1m io_size=1536k zonesize=192k zoneskip=64k.
    let base = "rw=read\nsize=1m\nzonesize=192k\nzoneskip=64k\n";
    let first = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0, 1, 2, 4];
    let mut queued = first.to_vec();
    queued.extend([0, 1, 2, 4, 5, 6, 8, 9]);
    let mut synchronous = first.to_vec();
    synchronous.extend([5, 6, 8, 9, 10, 12, 13, 14]);
    for (engine, want) in [
        ("libaio", &queued),
        ("io_uring", &queued),
        ("null\niodepth=4", &queued),
        ("psync", &synchronous),
        ("null", &synchronous),
    ] {
        let got = blocks(&format!("{base}io_size=1536k\nioengine={engine}\n"), 1000);
        assert_eq!(&got, want, "ioengine={engine}");
    }
    // loops=2 with libaio: each loop from the start (fio: the first 16 twice).
    assert_eq!(blocks(&format!("{base}loops=2\nioengine=libaio\n"), 1000), first.repeat(2));
}

#[test]
fn random_offsets_stay_in_their_zone_and_cover_it() {
    // zonesize 256k of 512k zones 1m apart: four distinct blocks of blocks 0-7, then 16-23,
    // 32-39, 48-55, around again (fio: 0 5 6 3 19 22 20 18 39 32 38 37 55 49 51 52 ...).
    let got = blocks("rw=randread\nsize=4m\nzonesize=256k\nzonerange=512k\nzoneskip=512k\n", 1000);
    assert_eq!(got.len(), 64);
    for (i, chunk) in got.chunks(4).enumerate() {
        let zone = 16 * (i as u64 % 4);
        assert!(chunk.iter().all(|b| (zone..zone + 8).contains(b)), "I/Os {i}: {chunk:?} not in zone {zone}");
        assert_eq!(chunk.iter().collect::<BTreeSet<_>>().len(), 4, "no block twice in a zone: {chunk:?}");
    }
    // zonesize twice zonerange: each 512k zone is covered whole twice (the random map starts
    // over after each zonerange of I/O), then the next (fio: 0 5 6 3 4 7 1 2 7 0 6 5 1 2 3 4 11 ...).
    let got = blocks("rw=randread\nsize=4m\nzonesize=1m\nzonerange=512k\n", 1000);
    assert_eq!(got.len(), 64);
    for (i, chunk) in got.chunks(8).enumerate() {
        let zone = 8 * (i as u64 / 2);
        let seen: BTreeSet<u64> = chunk.iter().copied().collect();
        assert_eq!(seen, (zone..zone + 8).collect(), "pass {i} over zone {zone}: {chunk:?}");
    }
}

#[test]
fn zone_options_are_checked_as_fio_checks_them() {
    let err = |text: &str| JobFile::parse(&format!("[x]\nsize=1m\n{text}"), "t.fio", false).unwrap_err().to_string();
    assert_eq!(
        err("zonesize=256k\n"),
        "t.fio:1: job 'x': zonesize needs zonemode=strided (fio 3.33 refuses zonesize with zonemode=none, the \
         default)"
    );
    assert_eq!(err("zonemode=strided\n"), "t.fio:1: job 'x': zonemode=strided needs zonesize= (bytes of I/O per zone)");
    assert_eq!(
        err("zonemode=zbd\n"),
        "t.fio:3: bad value 'zbd' for option 'zonemode': fio zonemode 'zbd' is not supported by aopsbench: it \
         needs a zoned block device (use none or strided)"
    );
    assert_eq!(
        err("rw=randread\nbs=64k\nzonemode=strided\nzonesize=32k\n"),
        "t.fio:1: job 'x': zonemode=strided: random offsets need a zone of at least one block (64k), and zonerange \
         is 32k"
    );
    // openfiles above 1: fio turns strided zones off.
    let text = "[x]\nsize=1m\nnrfiles=2\nopenfiles=2\nzonemode=strided\nzonesize=64k\nzoneskip=64k\n";
    let job = JobFile::parse(text, "t.fio", false).unwrap().jobs.remove(0);
    assert_eq!(job.strided(), None);
}

#[test]
fn two_files_share_the_thread_s_zone_bytes_as_in_fio() {
    // fio counts zone_bytes per thread and keeps a zone per file (fio 3.33, filename=f2:f3:
    // f2:0 f3:0 f2:4 f3:1, four times).
    let text = "[x]\nbs=64k\nzonemode=strided\nrw=write\nsize=1m\nzonesize=128k\nzoneskip=128k\nfilename=a:b\n";
    let job = JobFile::parse(text, "t.fio", false).unwrap().jobs.remove(0);
    let got: Vec<(u32, u64)> = job.threads()[0]
        .ops
        .clone()
        .filter_map(|op| match op {
            Op::Write { file, offset, .. } => Some((file, offset / (64 << 10))),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(0, 0), (1, 0), (0, 4), (1, 1)].repeat(4));
}
