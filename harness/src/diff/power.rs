//! Power cuts in a lockstep: the undo logs started a window ahead, a power cut op, and what
//! follows a cut — the target mounted from what its device kept, its files held to the
//! durability rules ([`Durability`](super::durability::Durability)), then rewritten to the
//! model's content and synced so that the run goes on.

use super::lockstep::{CHUNK, Lockstep, file_name, outcome, target_err};
use super::model::Outcome;
use super::{DiffError, Mismatch};
use crate::targets::{PowerControl, TargetError};
use workloads::Op;

/// How many ops before a power cut the devices start their undo logs: the writes of these
/// ops (since the last flush) are what a cut can undo; earlier ones count as on the media.
/// Logging all the time would cost a device read per write.
pub const CUT_WINDOW: usize = 32;

impl Lockstep {
    /// Starts the undo logs of the targets that can lose power (a cut comes within
    /// [`CUT_WINDOW`] ops).
    pub fn start_power_logs(&mut self) -> Result<(), DiffError> {
        for m in self.members.iter_mut().filter(|m| m.can_cut && !m.logging) {
            m.target.power(PowerControl::Log).map_err(target_err(&m.name, "start an undo log"))?;
            m.logging = true;
        }
        Ok(())
    }

    /// Runs a power cut op on member `i`: now (`after_writes` 0), or during the next op, right
    /// after its `after_writes`th device write — at its end if it writes less. A target that
    /// cannot lose power goes on.
    pub(super) fn cut(&mut self, i: usize, after_writes: u64) -> Result<Outcome, DiffError> {
        let m = &mut self.members[i];
        if !m.can_cut {
            return Ok(Ok(0));
        }
        if !m.logging {
            m.target.power(PowerControl::Log).map_err(target_err(&m.name, "start an undo log"))?;
            m.logging = true;
        }
        match after_writes {
            0 => m.target.power(PowerControl::CutNow).map_err(target_err(&m.name, "cut the power"))?,
            n => m.pending_cut = Some(n),
        }
        Ok(Ok(0))
    }

    /// After member `i` returned `actual` for `op` with the power on: a sync that returned
    /// made files durable.
    pub(super) fn note_durable(&mut self, i: usize, op: &Op, actual: Outcome) {
        let Some(d) = &mut self.durability else { return };
        if actual.is_err() {
            return;
        }
        match *op {
            Op::Fsync { file } | Op::Fdatasync { file } => d.durable(i, file, self.op_number),
            Op::Remount => d.all_durable(i, self.op_number),
            _ => {}
        }
    }

    /// Member `i` lost power during the current op: reboot it (mount from what its device
    /// kept), check its files against the durability rules, and if they keep them, rewrite
    /// them to the model's content and sync, so that the run goes on.
    pub(super) fn after_power_cut(&mut self, i: usize) -> Result<Option<Mismatch>, DiffError> {
        let n = self.op_number;
        let m = &mut self.members[i];
        m.cuts_seen = m.target.power_cuts();
        m.pending_cut = None;
        if let Some((_, c)) = self.stats.power_cuts.iter_mut().find(|(name, _)| *name == m.name) {
            *c += 1;
        }
        if let Err(e) = m.target.reboot() {
            let errno = e.errno().ok_or_else(|| target_err(&m.name, "mount after a power cut")(e))?;
            return Ok(Some(Mismatch::Result { expected: Ok(0), actual: Err(errno) }));
        }
        // A cut still planned (after more writes) dies with the power: no undo log, no cut,
        // until the next power cut op.
        m.target.power(PowerControl::Idle).map_err(target_err(&m.name, "stop the undo log"))?;
        m.logging = false;
        // A file whose creation was never synced may be gone: it comes back empty.
        for f in 0..self.model.files() {
            let fname = file_name(f);
            m.fids[f as usize] =
                m.target.open(&fname, true).map_err(target_err(&m.name, &format!("open {fname} after a power cut")))?;
        }
        let Some(d) = &mut self.durability else { return Ok(None) };
        for f in 0..self.model.files() {
            let fid = m.fids[f as usize];
            let size = m.target.size(fid).map_err(target_err(&m.name, "fstat after a power cut"))?;
            let mut bytes = vec![0u8; size as usize];
            let mut got = 0;
            while got < bytes.len() {
                let to = (got + CHUNK as usize).min(bytes.len());
                match m.target.read(fid, got as u64, &mut bytes[got..to]) {
                    Ok(0) => break,
                    Ok(r) => got += r,
                    Err(e) => {
                        let op = Op::Read { file: f, offset: got as u64, len: size - got as u64 };
                        let actual = outcome(Err(e), &m.name, &op)?;
                        return Ok(Some(Mismatch::Result { expected: Ok(size - got as u64), actual }));
                    }
                }
            }
            bytes.truncate(got);
            if let Err(v) = d.check(i, f, &self.model, &bytes) {
                return Ok(Some(Mismatch::Durability(v)));
            }
            // Kept the rules: bring the file to the model's state and make that durable.
            let want = self.model.bytes(f);
            let mut at = 0usize;
            while at < want.len() {
                let end = (at + CHUNK as usize).min(want.len());
                if bytes.get(at..end) != Some(&want[at..end]) {
                    let mut done = at;
                    while done < end {
                        match m.target.write(fid, done as u64, &want[done..end]) {
                            Ok(0) => Err(TargetError::Os { op: "write", errno: libc::EIO }),
                            r => r,
                        }
                        .map(|w| done += w)
                        .map_err(target_err(&m.name, "rewrite after a power cut"))?;
                    }
                }
                at = end;
            }
            m.target.truncate(fid, want.len() as u64).map_err(target_err(&m.name, "truncate after a power cut"))?;
            m.target.fsync(fid).map_err(target_err(&m.name, "fsync after a power cut"))?;
            d.durable(i, f, n);
        }
        self.stats.durability_unchecked = d.unchecked_bytes();
        Ok(None)
    }
}
