//! Fixed-layout on-disk structures: fields at byte offsets, little-endian (ext4) or big-endian
//! (jbd2), declared once with [`ondisk!`](crate::ondisk) (`field @ offset: type`) so that a
//! structure reads like its C
//! definition and decodes and encodes without `unsafe`.
//!
//! Encoding writes only the declared fields into an existing buffer: bytes a structure does
//! not declare (reserved space, fields fsimpl does not model) keep what was read.

/// A field type of an on-disk structure.
pub trait Field: Sized + Copy {
    /// Size in bytes.
    const SIZE: usize;
    /// Reads a little-endian value at `off`.
    fn get_le(b: &[u8], off: usize) -> Self;
    /// Writes a little-endian value at `off`.
    fn put_le(self, b: &mut [u8], off: usize);
    /// Reads a big-endian value at `off`.
    fn get_be(b: &[u8], off: usize) -> Self;
    /// Writes a big-endian value at `off`.
    fn put_be(self, b: &mut [u8], off: usize);
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn get_le(b: &[u8], off: usize) -> Self {
                <$t>::from_le_bytes(b[off..off + Self::SIZE].try_into().expect("field in range"))
            }
            fn put_le(self, b: &mut [u8], off: usize) {
                b[off..off + Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            fn get_be(b: &[u8], off: usize) -> Self {
                <$t>::from_be_bytes(b[off..off + Self::SIZE].try_into().expect("field in range"))
            }
            fn put_be(self, b: &mut [u8], off: usize) {
                b[off..off + Self::SIZE].copy_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, i16, i32);

impl<const N: usize> Field for [u8; N] {
    const SIZE: usize = N;
    fn get_le(b: &[u8], off: usize) -> Self {
        b[off..off + N].try_into().expect("field in range")
    }
    fn put_le(self, b: &mut [u8], off: usize) {
        b[off..off + N].copy_from_slice(&self);
    }
    fn get_be(b: &[u8], off: usize) -> Self {
        Self::get_le(b, off)
    }
    fn put_be(self, b: &mut [u8], off: usize) {
        self.put_le(b, off)
    }
}

impl<const N: usize> Field for [u32; N] {
    const SIZE: usize = 4 * N;
    fn get_le(b: &[u8], off: usize) -> Self {
        std::array::from_fn(|i| u32::get_le(b, off + 4 * i))
    }
    fn put_le(self, b: &mut [u8], off: usize) {
        for (i, v) in self.into_iter().enumerate() {
            v.put_le(b, off + 4 * i);
        }
    }
    fn get_be(b: &[u8], off: usize) -> Self {
        std::array::from_fn(|i| u32::get_be(b, off + 4 * i))
    }
    fn put_be(self, b: &mut [u8], off: usize) {
        for (i, v) in self.into_iter().enumerate() {
            v.put_be(b, off + 4 * i);
        }
    }
}

/// Declares an on-disk structure: `name [size bytes] le|be { field @ offset: type, ... }`.
/// Generates the struct (with `Default`), `SIZE`, `decode(&[u8])` and `encode(&self, &mut
/// [u8])`, and `offsets()` listing each field's name and offset (for layout tests).
#[macro_export]
#[doc(hidden)]
macro_rules! ondisk {
    (
        $(#[$m:meta])*
        pub struct $name:ident [$size:expr] $endian:ident {
            $( $(#[$fm:meta])* $field:ident @ $off:literal : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl Default for $name {
            /// All zeros.
            fn default() -> Self {
                Self::decode(&[0u8; $size])
            }
        }

        impl $name {
            /// Bytes of the structure on disk.
            pub const SIZE: usize = $size;

            /// Reads the structure from the start of `b` (at least [`Self::SIZE`] bytes).
            pub fn decode(b: &[u8]) -> Self {
                $name { $( $field: $crate::ondisk!(@get $endian, $ty, b, $off), )* }
            }

            /// Writes the declared fields into the start of `b`; other bytes are left alone.
            pub fn encode(&self, b: &mut [u8]) {
                $( $crate::ondisk!(@put $endian, $ty, self.$field, b, $off); )*
            }

            /// Each field's name, offset and size, in declaration order.
            pub fn offsets() -> &'static [(&'static str, usize, usize)] {
                &[ $( (stringify!($field), $off, <$ty as $crate::core::ondisk::Field>::SIZE), )* ]
            }
        }
    };
    (@get le, $ty:ty, $b:expr, $off:expr) => { <$ty as $crate::core::ondisk::Field>::get_le($b, $off) };
    (@get be, $ty:ty, $b:expr, $off:expr) => { <$ty as $crate::core::ondisk::Field>::get_be($b, $off) };
    (@put le, $ty:ty, $v:expr, $b:expr, $off:expr) => { <$ty as $crate::core::ondisk::Field>::put_le($v, $b, $off) };
    (@put be, $ty:ty, $v:expr, $b:expr, $off:expr) => { <$ty as $crate::core::ondisk::Field>::put_be($v, $b, $off) };
}

/// Checks that the fields of a structure do not overlap and fit in its size.
#[cfg(test)]
pub(crate) fn check_layout(name: &str, size: usize, offsets: &[(&str, usize, usize)]) {
    let mut sorted: Vec<_> = offsets.to_vec();
    sorted.sort_by_key(|&(_, off, _)| off);
    for w in sorted.windows(2) {
        assert!(w[0].1 + w[0].2 <= w[1].1, "{name}: {} overlaps {}", w[0].0, w[1].0);
    }
    if let Some(&(f, off, len)) = sorted.last() {
        assert!(off + len <= size, "{name}: {f} runs past {size} bytes");
    }
}

/// `ext4_chksum` / `jbd2_chksum`: crc32c continued from `seed`, without the final inversion
/// (the kernel's `crc32c(seed, data, len)`, e2fsprogs' `ext2fs_crc32c_le`).
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::ondisk! {
        /// A test structure.
        pub struct probe [16] be {
            /// A.
            a @ 0: u32,
            /// B.
            b @ 4: u16,
            /// C.
            c @ 8: [u8; 4],
        }
    }

    #[test]
    fn fields_round_trip_and_leave_other_bytes() {
        let mut b = [0xffu8; 16];
        let p = probe { a: 0x01020304, b: 0x0506, c: *b"abcd" };
        p.encode(&mut b);
        assert_eq!(&b[..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(b[6], 0xff, "undeclared bytes keep their value");
        assert_eq!(probe::decode(&b), p);
        check_layout("probe", probe::SIZE, probe::offsets());
    }

    #[test]
    fn crc32c_matches_the_kernel_convention() {
        // crc32c("123456789") is 0xe3069283 with the standard init and final inversion.
        assert_eq!(!crc32c(!0, b"123456789"), 0xe3069283);
        // Continuing is the same as one pass.
        assert_eq!(crc32c(crc32c(!0, b"1234"), b"56789"), crc32c(!0, b"123456789"));
    }
}
