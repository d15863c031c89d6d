//! The ROCA fingerprint (CVE-2017-15361): RSA moduli made by Infineon's RSALib, whose private
//! keys can be computed from the public key.
//!
//! RSALib built each prime as `k·M + (65537^a mod M)`, with `M` a primorial, so a modulus `n`
//! taken modulo any small prime `p` dividing `M` lies in the subgroup that 65537 generates in
//! the integers modulo `p`. For a random modulus that happens for all 38 primes below with
//! negligible probability (about 2^-154). This is the published test of Nemec et al., "The Return
//! of Coppersmith's Attack" (CCS 2017), as in their `roca-detect` tool, with the subgroups
//! computed here instead of stored as bit masks.

/// The small primes of the published test.
const PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

const GENERATOR: u32 = 65537;

/// Whether the modulus (big-endian bytes) has the ROCA fingerprint.
pub(crate) fn has_fingerprint(modulus: &[u8]) -> bool {
    PRIMES.iter().all(|&p| in_subgroup(residue(modulus, p), p))
}

/// `n mod p` for a big-endian `n`.
fn residue(n: &[u8], p: u32) -> u32 {
    n.iter()
        .fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % p)
}

/// Whether `r` is a power of 65537 modulo the prime `p`.
fn in_subgroup(r: u32, p: u32) -> bool {
    let g = GENERATOR % p;
    let mut x = 1;
    // 65537 is a prime larger than p, so g is not 0 and its powers come back to 1.
    loop {
        if x == r {
            return true;
        }
        x = x * g % p;
        if x == 1 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit masks `roca-detect` 1.2.12 stores (`prints`), for the first primes: bit `r` is
    /// set when `r` is in the subgroup. The computed subgroups must be the same sets.
    #[test]
    fn subgroups_match_the_published_masks() {
        let published: [(u32, u128); 10] = [
            (3, 6),
            (5, 30),
            (7, 126),
            (11, 1026),
            (13, 5658),
            (17, 107286),
            (19, 199410),
            (23, 8388606),
            (29, 536870910),
            (31, 2147483646),
        ];
        for (p, mask) in published {
            let computed: u128 = (0..p)
                .filter(|r| in_subgroup(*r, p))
                .fold(0, |m, r| m | 1 << r);
            assert_eq!(computed, mask, "p = {p}");
        }
    }

    #[test]
    fn residues_of_big_endian_numbers() {
        assert_eq!(residue(&[0x01, 0x00], 7), 256 % 7);
        assert_eq!(residue(&[0xff; 4], 167), (u32::MAX % 167));
        assert_eq!(residue(&[], 3), 0);
    }

    #[test]
    fn products_of_powers_of_65537_have_the_fingerprint_and_others_not() {
        // 65537^5 is a power of 65537 modulo every prime: the fingerprint in its plainest form.
        let n = 65537u128.pow(5).to_be_bytes();
        assert!(has_fingerprint(&n));
        assert!(!has_fingerprint(&(65537u128.pow(5) + 2).to_be_bytes()));
        assert!(!has_fingerprint(&[0]));
    }
}
