//! `iov_iter_advance` over the `struct iovec` arrays of the vectored syscalls and opcodes.

/// Consumes `n` transferred bytes from the front of `iov`, like the kernel's
/// `iov_iter_advance`: trims the first partly transferred iovec in place and returns how many
/// iovecs were transferred whole (the caller continues from that index).
pub(crate) fn iov_advance(iov: &mut [libc::iovec], mut n: usize) -> usize {
    let mut whole = 0;
    for v in iov.iter_mut() {
        if n < v.iov_len {
            v.iov_base = v.iov_base.cast::<u8>().wrapping_add(n).cast();
            v.iov_len -= n;
            break;
        }
        n -= v.iov_len;
        whole += 1;
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_skips_whole_iovecs_and_trims_the_partial_one() {
        let mut mem = [0u8; 64];
        let base = mem.as_mut_ptr();
        let iov = |off: usize, len: usize| libc::iovec { iov_base: base.wrapping_add(off).cast(), iov_len: len };
        let mut v = [iov(0, 16), iov(32, 8), iov(48, 16)];
        assert_eq!(iov_advance(&mut v, 0), 0);
        assert_eq!(iov_advance(&mut v, 20), 1);
        assert_eq!((v[1].iov_base, v[1].iov_len), (base.wrapping_add(36).cast(), 4));
        assert_eq!(iov_advance(&mut v[1..], 4), 1);
        assert_eq!(iov_advance(&mut v[2..], 16), 1);
    }
}
