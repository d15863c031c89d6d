//! Key strength: the minimums every key must meet, whichever way it enters tollgate (`keys
//! generate`, `keys import`, `verify --key`, `verify --secret`, JWK Sets, and the keyring's own
//! files when it is opened).
//!
//! - HMAC: a secret may be used only with the algorithms whose hash output is no longer than the
//!   secret (RFC 7518 §3.2): HS256 needs 32 bytes, HS384 48, HS512 64. Below 32 bytes it is
//!   refused.
//! - RSA: a modulus of at least 2048 bits, an odd public exponent above 1, and no ROCA
//!   fingerprint (CVE-2017-15361, see [`roca`](super::roca)).

use crate::alg::{Algorithm, Family};
use crate::error::{Error, Result};
use crate::keys::roca;

/// The smallest RSA modulus accepted, in bits.
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// The shortest secret `alg` may use: the length of its hash output.
pub(crate) fn min_hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// The HMAC algorithms a secret of `len` bytes is long enough for.
pub(crate) fn hmac_algorithms(len: usize) -> Vec<Algorithm> {
    Algorithm::of_family(Family::Hmac)
        .filter(|a| len >= min_hmac_len(*a))
        .collect()
}

/// Refuses a secret shorter than 32 bytes, or shorter than its named `alg` needs.
///
/// # Errors
///
/// `bad_key` naming the length, the minimum and the fix.
pub(crate) fn check_hmac(len: usize, alg: Option<Algorithm>) -> Result<()> {
    let (min, what) = match alg {
        Some(alg) => (min_hmac_len(alg), format!("its alg {alg}")),
        None => (32, "HS256, the shortest HMAC".to_string()),
    };
    if len < min {
        return Err(Error::bad_key(format!(
            "HMAC secret of {len} bytes is below the {min}-byte minimum of {what} (RFC 7518 \
             §3.2); use a new secret of at least {min} random bytes, e.g. `head -c {min} /dev/urandom`"
        )));
    }
    Ok(())
}

/// Refuses a weak RSA public key: modulus below 2048 bits, even or tiny exponent, ROCA.
///
/// # Errors
///
/// `bad_key` naming the rule broken and the fix.
pub(crate) fn check_rsa(n: &[u8], e: &[u8]) -> Result<()> {
    let bits = bit_len(n);
    if bits < MIN_RSA_BITS {
        return Err(Error::bad_key(format!(
            "RSA modulus of {bits} bits is below the {MIN_RSA_BITS}-bit minimum; generate a new key \
             of 2048 bits or more"
        )));
    }
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    if !odd || bit_len(e) <= 1 {
        return Err(Error::bad_key(
            "RSA public exponent must be odd and greater than 1 (65537 is usual); the key is \
             malformed: generate a new one",
        ));
    }
    if roca::has_fingerprint(n) {
        return Err(Error::bad_key(
            "RSA modulus has the ROCA fingerprint (CVE-2017-15361): it was made by a vulnerable \
             Infineon RSALib and its private key can be computed from the public key; regenerate \
             the key with a fixed library (update or replace the smart card, TPM or token that \
             made it)",
        ));
    }
    Ok(())
}

/// The number of significant bits of a big-endian unsigned number.
fn bit_len(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    match n.first() {
        None => 0,
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_algorithms_follow_the_hash_length() {
        assert!(hmac_algorithms(31).is_empty());
        assert_eq!(hmac_algorithms(32), [Algorithm::HS256]);
        assert_eq!(hmac_algorithms(47), [Algorithm::HS256]);
        assert_eq!(hmac_algorithms(48), [Algorithm::HS256, Algorithm::HS384]);
        assert_eq!(hmac_algorithms(64).len(), 3);
    }

    #[test]
    fn hmac_refusals_name_the_length_and_the_minimum() {
        let e = check_hmac(31, None).unwrap_err();
        assert!(e.message().contains("31 bytes") && e.message().contains("32-byte"));
        let e = check_hmac(48, Some(Algorithm::HS512)).unwrap_err();
        assert!(e.message().contains("48 bytes") && e.message().contains("HS512"));
        check_hmac(48, Some(Algorithm::HS384)).unwrap();
    }

    #[test]
    fn bit_length_is_exact_not_bytes_times_eight() {
        assert_eq!(bit_len(&[0x00, 0x01]), 1);
        assert_eq!(bit_len(&[0x40, 0x00]), 15);
        assert_eq!(bit_len(&[]), 0);
        let mut n = vec![0xffu8; 256];
        n[0] = 0x7f;
        assert_eq!(bit_len(&n), 2047);
    }

    #[test]
    fn rsa_rules() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 0x01;
        check_rsa(&n, &[0x01, 0x00, 0x01]).unwrap();
        check_rsa(&n, &[0x03]).unwrap();
        let mut short = n.clone();
        short[0] = 0x7f;
        assert!(
            check_rsa(&short, &[1, 0, 1])
                .unwrap_err()
                .message()
                .contains("2047 bits")
        );
        assert!(check_rsa(&n[1..], &[1, 0, 1]).is_err());
        for e in [
            &[0x01][..],
            &[0x00, 0x01],
            &[0x01, 0x00, 0x00],
            &[0x02],
            &[],
        ] {
            assert!(check_rsa(&n, e).is_err(), "{e:?}");
        }
    }
}
