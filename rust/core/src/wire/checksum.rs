//! The Internet checksum (RFC 1071) and the pseudo-headers VRRP uses.

use core::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with zero),
/// not yet folded. It adds 32-bit words into a u64 (RFC 1071 §2: the sum may be taken over wider
/// words and folded at the end); a u64 cannot overflow for any buffer this crate handles.
#[inline]
pub(crate) fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for w in &mut pairs {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold a sum into 16 bits (end-around carry).
#[inline]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves acc <= 0xffff.
    acc as u16
}

/// Sum of the IPv4 pseudo-header: src, dst, zero, protocol, upper-layer length.
#[inline]
pub(crate) fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: usize) -> u64 {
    u64::from(src.to_bits())
        + u64::from(dst.to_bits())
        + u64::from(protocol)
        + (length as u64 & 0xffff)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, 32-bit length, zeros, next header.
#[inline]
pub(crate) fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: usize) -> u64 {
    let len = length as u64 & 0xffff_ffff;
    // Summing the addresses as 32-bit words folds to the same 16-bit one's-complement sum, with no
    // byte-wise pass over them.
    words32(src.to_bits()) + words32(dst.to_bits()) + (len >> 16) + (len & 0xffff) + u64::from(next_header)
}

/// Sum of the four 32-bit words of a 128-bit value.
#[inline]
fn words32(bits: u128) -> u64 {
    let (hi, lo) = ((bits >> 64) as u64, bits as u64);
    (hi >> 32) + (hi & 0xffff_ffff) + (lo >> 32) + (lo & 0xffff_ffff)
}

/// A checksum field value that makes the total sum verify, given the sum of everything else.
#[inline]
pub(crate) fn complement(acc: u64) -> u16 {
    !fold(acc)
}

/// True when a sum that includes the checksum field verifies.
#[inline]
pub(crate) fn verifies(acc: u64) -> bool {
    fold(acc) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(complement(sum(&data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn wide_words_fold_like_16_bit_words() {
        let data: Vec<u8> = (0u8..=250).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let mut narrow: u64 = d
                .chunks(2)
                .map(|w| u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0)))
                .sum();
            narrow = u64::from(fold(narrow));
            assert_eq!(u64::from(fold(sum(d))), narrow, "len {len}");
        }
    }

    #[test]
    fn filled_checksum_verifies() {
        let mut data = [0x45u8, 0, 0x12, 0x34, 0, 0, 0xab, 0xcd, 0xff];
        let c = complement(sum(&data));
        data[4..6].copy_from_slice(&c.to_be_bytes());
        assert!(verifies(sum(&data)));
    }
}
