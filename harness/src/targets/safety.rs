//! Block-device safety: before the harness formats or writes a block device, or a regular file
//! that is not an aopsbench image, it makes sure it destroys nothing in use — as `mkfs` asks
//! "contains a ext4 file system ... Proceed anyway?" and `wipefs` names what it would erase.
//!
//! [`check_destroy`] refuses a path that
//! - is mounted (`/proc/self/mountinfo`), or has a mounted partition;
//! - is active swap (`/proc/swaps`), or has a partition that is;
//! - is held by another device (`/sys/class/block/*/holders`: device-mapper, md, LVM);
//! - is a regular file backing a loop device (`/sys/block/loop*/loop/backing_file`);
//! - holds a known signature: ext2/3/4, xfs, btrfs, swap, a GPT or an MBR partition table;
//! - is a regular file holding data, but not an aopsbench image (an ext4 image labelled
//!   `aopsbench`, as fsimpl's mkfs makes them); a new, empty or all-zero file is fine.
//!
//! `--force-destroy` ([`Destroy::Force`]) skips the checks. Each refusal is one line naming the
//! path, what was found, and what to do.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{Result, TargetError};

/// Whether the user allowed destroying what is on a device (`--force-destroy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Destroy {
    /// Refuse when something is found (the default).
    #[default]
    Refuse,
    /// Overwrite whatever is there.
    Force,
}

impl Destroy {
    /// From the `--force-destroy` flag.
    pub fn from_flag(force: bool) -> Self {
        if force { Destroy::Force } else { Destroy::Refuse }
    }
}

/// Whether `head` (the first bytes of a device) is an aopsbench image: ext4 (magic 0xEF53
/// at byte 1080) with the volume label `aopsbench` (`s_volume_name`, byte 1144).
pub fn is_aopsbench_image(head: &[u8]) -> bool {
    head.len() >= 1160
        && head[1080..1082] == [0x53, 0xEF]
        && head[1144..1160] == *fsimpl::core::ext4::mke2fs::AOPSBENCH_LABEL
}

/// Bytes read from the start of a device to look for signatures (btrfs's is at 64 KiB, a swap
/// signature at the end of a 64 KiB page).
const PROBE_BYTES: usize = 128 << 10;

/// What makes a path unsafe to overwrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The device (or one of its partitions) is mounted there.
    Mounted {
        /// Which device is mounted (the path or a partition).
        device: String,
        /// The mount point.
        on: String,
    },
    /// It is active swap.
    Swap {
        /// The swap area as `/proc/swaps` names it.
        area: String,
    },
    /// Another block device is built on it (device-mapper, md).
    Held {
        /// The holder, e.g. `dm-0`.
        by: String,
    },
    /// A regular file attached to a loop device.
    LoopBacking {
        /// The loop device.
        device: String,
    },
    /// A filesystem, swap or partition-table signature.
    Signature {
        /// What, e.g. "an ext4 filesystem".
        what: &'static str,
        /// Where it was seen, e.g. "magic 0xEF53 at byte 1080".
        at: &'static str,
    },
    /// A regular file with data that is not an aopsbench image.
    ForeignData,
}

impl Found {
    /// The refusal, one line.
    pub fn message(&self, path: &Path) -> String {
        let p = path.display();
        let force = "give --force-destroy to overwrite it anyway";
        match self {
            Found::Mounted { device, on } if device == &p.to_string() => {
                format!("refusing to write {p}: it is mounted on {on}; unmount it, or give another device")
            }
            Found::Mounted { device, on } => {
                format!(
                    "refusing to write {p}: its partition {device} is mounted on {on}; unmount it, or give another device"
                )
            }
            Found::Swap { area } if area == &p.to_string() => {
                format!("refusing to write {p}: it is active swap; swapoff {p} first, or give another device")
            }
            Found::Swap { area } => {
                format!(
                    "refusing to write {p}: its partition {area} is active swap; swapoff {area} first, or give another device"
                )
            }
            Found::Held { by } => {
                format!(
                    "refusing to write {p}: it is in use by {by} (device-mapper, LVM or md); release it first, or give another device"
                )
            }
            Found::LoopBacking { device } => {
                format!(
                    "refusing to write {p}: it is the backing file of {device}; losetup -d {device} first, or {force}"
                )
            }
            Found::Signature { what, at } => {
                format!("refusing to write {p}: it holds {what} ({at}); {force}")
            }
            Found::ForeignData => format!(
                "refusing to write {p}: it holds data and is not an aopsbench image (an ext4 image labelled aopsbench); {force}"
            ),
        }
    }
}

/// Checks that `path` (an existing image or block device fsimpl is to mount with `image=`)
/// is not in use: mounted, swap, held, or backing a loop device. What it holds is the user's
/// to give.
pub fn check_not_in_use(path: &Path) -> Result<()> {
    let found = std::fs::metadata(path).and_then(|meta| {
        let who = if meta.file_type().is_block_device() {
            Identity::Block(meta.rdev())
        } else {
            Identity::File(meta.dev(), meta.ino())
        };
        in_use(&who, path)
    });
    match found {
        Ok(None) => Ok(()),
        Ok(Some(f)) => Err(TargetError::Setup(f.message(path).replacen("refusing to write", "refusing to use", 1))),
        Err(e) => Err(TargetError::Setup(format!("cannot use {}: {e}", path.display()))),
    }
}

/// Checks that `path` may be formatted and written; with [`Destroy::Force`] anything goes.
/// A path that does not exist yet is safe (it will be a new image file).
pub fn check_destroy(path: &Path, destroy: Destroy) -> Result<()> {
    if destroy == Destroy::Force {
        return Ok(());
    }
    match inspect(path) {
        Ok(None) => Ok(()),
        Ok(Some(found)) => Err(TargetError::Setup(found.message(path))),
        Err(e) => Err(TargetError::Setup(format!("cannot check {} before writing it: {e}", path.display()))),
    }
}

/// What, if anything, makes `path` unsafe to overwrite.
pub fn inspect(path: &Path) -> std::io::Result<Option<Found>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let is_block = meta.file_type().is_block_device();
    if !is_block && !meta.is_file() {
        return Ok(None);
    }
    let who = if is_block { Identity::Block(meta.rdev()) } else { Identity::File(meta.dev(), meta.ino()) };
    if let Some(found) = in_use(&who, path)? {
        return Ok(Some(found));
    }
    let head = read_head(path)?;
    if is_aopsbench_image(&head) {
        return Ok(None);
    }
    if let Some((what, at)) = signature(&head) {
        return Ok(Some(Found::Signature { what, at }));
    }
    if !is_block && head.iter().any(|&b| b != 0) {
        return Ok(Some(Found::ForeignData));
    }
    Ok(None)
}

/// How a path is recognised elsewhere: a block device by its device number, a file by its
/// inode.
enum Identity {
    Block(u64),
    File(u64, u64),
}

/// A device number as the kernel prints it, `MAJOR:MINOR`.
fn dev_name(rdev: u64) -> String {
    format!("{}:{}", libc::major(rdev), libc::minor(rdev))
}

/// The kernel name of a block device (`sda`, `loop3`, `sda1`) from its number.
fn sys_name(dev: &str) -> Option<String> {
    let link = std::fs::read_link(format!("/sys/dev/block/{dev}")).ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// Whether device `dev` (`MAJ:MIN`) is `whole` or one of its partitions.
fn is_or_part_of(dev: &str, whole: &str) -> bool {
    if dev == whole {
        return true;
    }
    let (Some(name), Some(whole_name)) = (sys_name(dev), sys_name(whole)) else { return false };
    Path::new(&format!("/sys/class/block/{whole_name}/{name}")).exists()
}

/// Mounted, swap, held or backing a loop device.
fn in_use(who: &Identity, path: &Path) -> std::io::Result<Option<Found>> {
    match who {
        Identity::Block(rdev) => {
            let whole = dev_name(*rdev);
            for (dev, source, on) in mounts()? {
                if is_or_part_of(&dev, &whole) {
                    let device = if dev == whole { path.display().to_string() } else { source };
                    return Ok(Some(Found::Mounted { device, on }));
                }
            }
            for area in swaps()? {
                let Ok(m) = std::fs::metadata(&area) else { continue };
                if m.file_type().is_block_device() && is_or_part_of(&dev_name(m.rdev()), &whole) {
                    let area = if m.rdev() == *rdev { path.display().to_string() } else { area };
                    return Ok(Some(Found::Swap { area }));
                }
            }
            if let Some(by) = holder(&whole) {
                return Ok(Some(Found::Held { by }));
            }
        }
        Identity::File(dev, ino) => {
            for area in swaps()? {
                if std::fs::metadata(&area).is_ok_and(|m| m.is_file() && m.dev() == *dev && m.ino() == *ino) {
                    return Ok(Some(Found::Swap { area: path.display().to_string() }));
                }
            }
            if let Some(device) = loop_backed_by(path) {
                return Ok(Some(Found::LoopBacking { device }));
            }
        }
    }
    Ok(None)
}

/// Every mount: (device number, source, mount point), from `/proc/self/mountinfo`.
fn mounts() -> std::io::Result<Vec<(String, String, String)>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(text.lines().filter_map(parse_mountinfo_line).collect())
}

/// One mountinfo line: `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw`.
fn parse_mountinfo_line(line: &str) -> Option<(String, String, String)> {
    let mut fields = line.split(' ');
    let dev = fields.nth(2)?.to_string();
    let on = unescape(fields.nth(1)?);
    let mut rest = fields.skip_while(|f| *f != "-");
    let source = rest.nth(2)?.to_string();
    Some((dev, source, on))
}

/// Undoes the octal escapes of `/proc` files (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Active swap areas, as `/proc/swaps` names them.
fn swaps() -> std::io::Result<Vec<String>> {
    let text = match std::fs::read_to_string("/proc/swaps") {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(unescape).collect())
}

/// A device built on `dev` (`MAJ:MIN`) or on one of its partitions.
fn holder(dev: &str) -> Option<String> {
    let name = sys_name(dev)?;
    let base = PathBuf::from(format!("/sys/class/block/{name}"));
    let mut dirs = vec![base.join("holders")];
    for entry in std::fs::read_dir(&base).ok()?.flatten() {
        if entry.path().join("partition").exists() {
            dirs.push(entry.path().join("holders"));
        }
    }
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|r| r.flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

/// The loop device whose backing file is `path`.
fn loop_backed_by(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    for entry in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else { continue };
        let backing = backing.trim_end_matches('\n');
        if Path::new(backing.strip_suffix(" (deleted)").unwrap_or(backing)) == path {
            return Some(format!("/dev/{}", entry.file_name().to_string_lossy()));
        }
    }
    None
}

/// The first [`PROBE_BYTES`] of `path` (fewer if it is shorter).
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(path)?.take(PROBE_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn at(head: &[u8], offset: usize, magic: &[u8]) -> bool {
    head.get(offset..offset + magic.len()) == Some(magic)
}

/// The known signature in the first bytes of a device, as (what, where), like `wipefs`.
pub fn signature(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if at(head, 0, b"XFSB") {
        return Some(("an xfs filesystem", "magic XFSB at byte 0"));
    }
    if at(head, 1080, &[0x53, 0xef]) {
        return Some((ext_kind(head), "magic 0xEF53 at byte 1080"));
    }
    if at(head, 65600, b"_BHRfS_M") {
        return Some(("a btrfs filesystem", "magic _BHRfS_M at byte 65600"));
    }
    // At the end of the first page: 4 KiB pages, or 64 KiB ones.
    const SWAP: [(usize, &[u8], &str); 4] = [
        (4086, b"SWAPSPACE2", "SWAPSPACE2 at byte 4086"),
        (4086, b"SWAP-SPACE", "SWAP-SPACE at byte 4086"),
        (65526, b"SWAPSPACE2", "SWAPSPACE2 at byte 65526"),
        (65526, b"SWAP-SPACE", "SWAP-SPACE at byte 65526"),
    ];
    if let Some(&(_, _, where_)) = SWAP.iter().find(|(off, magic, _)| at(head, *off, magic)) {
        return Some(("a swap area", where_));
    }
    if at(head, 512, b"EFI PART") {
        return Some(("a GPT partition table", "EFI PART at byte 512"));
    }
    if at(head, 4096, b"EFI PART") {
        return Some(("a GPT partition table", "EFI PART at byte 4096"));
    }
    if at(head, 510, &[0x55, 0xaa]) && mbr_has_partitions(head) {
        return Some(("an MBR partition table", "0x55AA at byte 510 and a partition entry"));
    }
    None
}

/// ext2, ext3 or ext4, from the superblock's feature flags (`s_feature_compat` at 0x5C,
/// `s_feature_incompat` at 0x60 of the superblock at byte 1024).
fn ext_kind(head: &[u8]) -> &'static str {
    let word = |off: usize| head.get(off..off + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let compat = word(1024 + 0x5c);
    let incompat = word(1024 + 0x60);
    // extents, 64bit, flex_bg, mmp, inline data, ...: anything past ext3's set.
    const EXT3_INCOMPAT: u32 = 0x0002 | 0x0004 | 0x0008 | 0x0010;
    if incompat & !EXT3_INCOMPAT != 0 {
        "an ext4 filesystem"
    } else if compat & 0x0004 != 0 {
        "an ext3 filesystem"
    } else {
        "an ext2 filesystem"
    }
}

/// A plausible MBR partition table: every entry's boot flag is 0x00 or 0x80, and at least
/// one entry has a type and a length.
fn mbr_has_partitions(head: &[u8]) -> bool {
    let Some(table) = head.get(446..510) else { return false };
    let entries: Vec<&[u8]> = table.chunks(16).collect();
    entries.iter().all(|e| e[0] == 0 || e[0] == 0x80)
        && entries.iter().any(|e| e[4] != 0 && u32::from_le_bytes([e[12], e[13], e[14], e[15]]) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(offset: usize, bytes: &[u8]) -> Vec<u8> {
        let mut head = vec![0u8; PROBE_BYTES];
        head[offset..offset + bytes.len()].copy_from_slice(bytes);
        head
    }

    #[test]
    fn signatures_are_named_with_where_they_were_seen() {
        assert_eq!(signature(&with(0, b"XFSB")), Some(("an xfs filesystem", "magic XFSB at byte 0")));
        assert_eq!(signature(&with(1080, &[0x53, 0xef])).map(|s| s.0), Some("an ext2 filesystem"));
        let mut ext4 = with(1080, &[0x53, 0xef]);
        ext4[1024 + 0x60] = 0x40;
        assert_eq!(signature(&ext4).map(|s| s.0), Some("an ext4 filesystem"));
        let mut ext3 = with(1080, &[0x53, 0xef]);
        ext3[1024 + 0x5c] = 0x04;
        assert_eq!(signature(&ext3).map(|s| s.0), Some("an ext3 filesystem"));
        assert_eq!(signature(&with(65600, b"_BHRfS_M")).map(|s| s.0), Some("a btrfs filesystem"));
        assert_eq!(signature(&with(4086, b"SWAPSPACE2")), Some(("a swap area", "SWAPSPACE2 at byte 4086")));
        assert_eq!(signature(&with(65526, b"SWAP-SPACE")).map(|s| s.1), Some("SWAP-SPACE at byte 65526"));
        assert_eq!(signature(&with(512, b"EFI PART")).map(|s| s.0), Some("a GPT partition table"));
        // 0x55AA alone (a boot sector, a FAT) is not a partition table; with an entry it is.
        let mut mbr = with(510, &[0x55, 0xaa]);
        assert_eq!(signature(&mbr), None);
        mbr[446 + 4] = 0x83;
        mbr[446 + 12] = 0x10;
        assert_eq!(signature(&mbr).map(|s| s.0), Some("an MBR partition table"));
        mbr[446 + 16] = 0x12;
        assert_eq!(signature(&mbr), None, "a bad boot flag: not a partition table");
        assert_eq!(signature(&[]), None);
        assert_eq!(signature(&[0u8; 100]), None);
    }

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let line = "36 35 7:3 / /mnt/my\\040disk rw,noatime shared:1 - ext4 /dev/loop3 rw";
        assert_eq!(parse_mountinfo_line(line), Some(("7:3".into(), "/dev/loop3".into(), "/mnt/my disk".into())));
        let optional_fields = "36 35 8:1 / / rw master:1 propagate_from:2 - xfs /dev/sda1 rw";
        assert_eq!(parse_mountinfo_line(optional_fields).map(|m| m.1), Some("/dev/sda1".into()));
        assert_eq!(parse_mountinfo_line("garbage"), None);
    }

    #[test]
    fn regular_files_must_be_new_empty_zero_or_aopsbench_images() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        assert_eq!(inspect(&p("missing")).unwrap(), None);
        std::fs::write(p("empty"), b"").unwrap();
        assert_eq!(inspect(&p("empty")).unwrap(), None);
        std::fs::write(p("zeros"), vec![0u8; 1 << 20]).unwrap();
        assert_eq!(inspect(&p("zeros")).unwrap(), None);
        let mut img = vec![0u8; 8192];
        img[1080..1082].copy_from_slice(&[0x53, 0xEF]);
        img[1144..1160].copy_from_slice(fsimpl::core::ext4::mke2fs::AOPSBENCH_LABEL);
        std::fs::write(p("img"), &img).unwrap();
        assert_eq!(inspect(&p("img")).unwrap(), None, "fsimpl's ext4 image");
        img[1144] = b'x';
        std::fs::write(p("other"), &img).unwrap();
        assert!(matches!(inspect(&p("other")).unwrap(), Some(Found::Signature { .. })), "someone's ext4");
        std::fs::write(p("notes.txt"), b"my thesis").unwrap();
        assert_eq!(inspect(&p("notes.txt")).unwrap(), Some(Found::ForeignData));
        let e = check_destroy(&p("notes.txt"), Destroy::Refuse).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "refusing to write {}: it holds data and is not an aopsbench image (an ext4 image labelled \
                 aopsbench); give --force-destroy to overwrite it anyway",
                p("notes.txt").display()
            )
        );
        check_destroy(&p("notes.txt"), Destroy::Force).unwrap();
        // A directory or a character device is not this module's business.
        assert_eq!(inspect(dir.path()).unwrap(), None);
    }
}
