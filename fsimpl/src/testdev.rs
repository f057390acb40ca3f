//! A RAM device for unit tests of the layers above `dev`.

use crate::dev::{BioBatch, BioOp, BlockDev, Counters, DevError, DevStats};
use std::sync::Mutex;

pub struct RamDev {
    data: Mutex<Vec<u8>>,
    counters: Counters,
}

impl RamDev {
    pub fn new(size: usize) -> Self {
        RamDev { data: Mutex::new(vec![0; size]), counters: Counters::default() }
    }
}

impl BlockDev for RamDev {
    fn engine_name(&self) -> &'static str {
        "ram"
    }
    fn size(&self) -> u64 {
        self.data.lock().unwrap().len() as u64
    }
    fn is_direct(&self) -> bool {
        false
    }
    fn submit(&self, batch: &mut BioBatch) -> Result<(), DevError> {
        let mut d = self.data.lock().unwrap();
        for i in 0..batch.len() {
            let b = batch.bios()[i];
            assert!(b.offset % 512 == 0 && b.len % 512 == 0, "misaligned bio {b:?}");
            assert!(b.offset + b.len <= d.len() as u64, "bio beyond device");
            let mut at = b.offset as usize;
            for seg in batch.segs(i) {
                // SAFETY: the submitter guarantees the segments are valid.
                let mem = unsafe { std::slice::from_raw_parts_mut(seg.ptr(), seg.len()) };
                match b.op {
                    BioOp::Read => mem.copy_from_slice(&d[at..at + seg.len()]),
                    BioOp::Write => d[at..at + seg.len()].copy_from_slice(mem),
                }
                at += seg.len();
            }
            match b.op {
                BioOp::Read => self.counters.read(b.len),
                BioOp::Write => self.counters.write(b.len),
            }
        }
        Ok(())
    }
    fn flush(&self) -> Result<(), DevError> {
        self.counters.flush();
        Ok(())
    }
    fn stats(&self) -> DevStats {
        self.counters.snapshot()
    }
}
