//! The example tokens of RFC 7515 Appendix A through `tollgate verify` (issue 10): A.1 (HS256)
//! with its `oct` JWK (`--key`) and its raw secret (`--secret`); A.2 (RS256) and A.3 (ES256)
//! with their public keys in every key-file form; A.4 (ES512) refused as `disallowed_alg`. The
//! tokens expire at 1300819380, so every run is at a fixed `--now` just before that.
//!
//! The keys are written here from the RFC's JWKs; the PEM and DER forms are encoded by this
//! file from the JWK's numbers (SubjectPublicKeyInfo, RFC 5480 and RFC 8017), not taken from
//! tollgate, and checked against the RFC's own A.3 PEM and against `keys export --format pem`.
//! A wrong byte anywhere makes a `bad_signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::{self, Out, Ring, unb64};

/// The instant every vector is checked at: 380 seconds before the tokens expire.
const NOW: i64 = 1_300_819_000;
/// The `exp` of the A.1-A.3 tokens.
const EXP: i64 = 1_300_819_380;
/// The default leeway of `verify` (CLI.md: expired iff now >= exp + leeway).
const LEEWAY: i64 = 30;

/// RFC 7515 A.1.1: HS256, header `{"typ":"JWT",\r\n "alg":"HS256"}`.
const A1: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// RFC 7515 A.2.1: RS256.
const A2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
/// RFC 7515 A.3.1: ES256.
const A3: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
/// RFC 7515 A.4.1: ES512 over the payload `Payload` (not JSON).
const A4: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

/// The decoded payload of A.1-A.3, exactly (CR LF and a space between members).
const PAYLOAD: &str =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

/// A.1's symmetric key.
const A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
/// A.2's RSA modulus (the exponent is AQAB).
const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
/// A.3's P-256 public point.
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// A.3's public key as PEM SPKI (the form the RFC's readers paste).
const A3_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7
6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==
-----END PUBLIC KEY-----
";
/// A.4's P-521 public key as PEM SPKI.
const A4_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQB6SkFDxJPxrxVx9U5M2Xfne9KsMIs
sleY+TTrBOPGuuNwGlenkQ6dgb82MVno68sVXWNJ9L22zPipTFxZx6rBAaQANKZE
DjdnUNI3H9G9wsjztx0vTuXqNDLIFcyjFWD+XZOH7HdLVYOGMOXLv1qMvgqR3QBk
xpmaH25uZ/rd7eTIyPY=
-----END PUBLIC KEY-----
";
/// A.4's P-521 public point.
const A4_X: &str =
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
const A4_Y: &str =
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

const BOM: &str = "\u{feff}";

fn a2_jwk() -> Value {
    json!({"kty": "RSA", "n": A2_N, "e": "AQAB"})
}

fn a3_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y})
}

fn a4_jwk() -> Value {
    json!({"kty": "EC", "crv": "P-521", "x": A4_X, "y": A4_Y})
}

/// A DER length (short or long form).
fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// A DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER of a big-endian unsigned number.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut content = bytes.to_vec();
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

/// SubjectPublicKeyInfo: AlgorithmIdentifier (DER given) and the key as a BIT STRING.
fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    der(0x30, &[algorithm, &der(0x03, &bits)].concat())
}

/// A.2's SPKI DER: rsaEncryption, NULL parameters, RSAPublicKey { n, e } (RFC 8017).
fn a2_der() -> Vec<u8> {
    // 1.2.840.113549.1.1.1 and NULL.
    let algorithm = der(
        0x30,
        &[
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ][..],
            &[0x05, 0x00],
        ]
        .concat(),
    );
    let rsa = der(
        0x30,
        &[der_uint(&unb64(A2_N)), der_uint(&unb64("AQAB"))].concat(),
    );
    spki(&algorithm, &rsa)
}

/// A.3's SPKI DER: id-ecPublicKey, prime256v1, the uncompressed point (RFC 5480).
fn a3_der() -> Vec<u8> {
    let algorithm = der(
        0x30,
        &[
            // 1.2.840.10045.2.1
            &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01][..],
            // 1.2.840.10045.3.1.7
            &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        ]
        .concat(),
    );
    let point = [&[0x04][..], &unb64(A3_X), &unb64(A3_Y)].concat();
    spki(&algorithm, &point)
}

/// PEM "PUBLIC KEY" with 64-character lines (RFC 7468 §13) and `eol` line endings.
fn pem(der: &[u8], eol: &str) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN PUBLIC KEY-----{eol}");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str(eol);
    }
    out.push_str(&format!("-----END PUBLIC KEY-----{eol}"));
    out
}

/// Every file form of a public key, written into `ring`'s temp directory: (name, path).
fn forms(ring: &Ring, name: &str, jwk: &Value, der: &[u8]) -> Vec<(String, String)> {
    let text = pem(der, "\n");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{name}.jwk"), jwk.to_string().into_bytes()),
        (
            format!("{name}.pretty.jwk"),
            serde_json::to_string_pretty(jwk).unwrap().into_bytes(),
        ),
        (
            format!("{name}.jwks.json"),
            json!({"keys": [jwk]}).to_string().into_bytes(),
        ),
        (format!("{name}.pem"), text.clone().into_bytes()),
        (format!("{name}.der"), der.to_vec()),
        (
            format!("{name}.bom.pem"),
            format!("{BOM}{text}").into_bytes(),
        ),
        (
            format!("{name}.text.pem"),
            format!(
                "Subject: the RFC 7515 example key\nComment: text before the block, RFC 7468 \
                 section 2\n\n{text}\nand after it\n"
            )
            .into_bytes(),
        ),
        (format!("{name}.crlf.pem"), pem(der, "\r\n").into_bytes()),
        (
            format!("{name}.bom.jwk"),
            format!("{BOM}{jwk}").into_bytes(),
        ),
        (
            format!("{name}.bom.jwks.json"),
            format!("{BOM}{}", json!({"keys": [jwk]})).into_bytes(),
        ),
    ];
    files
        .into_iter()
        .map(|(file, bytes)| {
            let path = ring.write(&file, bytes);
            (file, path)
        })
        .collect()
}

/// `tollgate --store memory: --now NOW --json verify TOKEN ARGS`, with no keyring.
fn verify_at(ring: &Ring, now: i64, token: &str, args: &[&str]) -> Out {
    let now = now.to_string();
    let mut all = vec![
        "--store", "memory:", "--now", &now, "--json", "verify", token,
    ];
    all.extend_from_slice(args);
    ring.run(&all)
}

/// Asserts a valid verification of an A.1-A.3 token: the RFC's claims and header.
#[track_caller]
fn assert_vector(out: Out, alg: &str, what: &str) -> Value {
    let v = out.json();
    assert_eq!(v["valid"], true, "{what}: {v}");
    assert_eq!(v["header"]["alg"], alg, "{what}");
    assert_eq!(v["claims"]["iss"], "joe", "{what}");
    assert_eq!(v["claims"]["exp"], EXP, "{what}");
    assert_eq!(v["claims"]["http://example.com/is_root"], true, "{what}");
    v
}

#[test]
fn the_vectors_are_the_rfcs() {
    for token in [A1, A2, A3] {
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(unb64(payload), PAYLOAD.as_bytes());
    }
    assert_eq!(
        unb64(A1.split('.').next().unwrap()),
        b"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"
    );
    assert_eq!(unb64(A4.split('.').nth(1).unwrap()), b"Payload");
    // The A.3 PEM encoded here from the JWK is the RFC's, byte for byte, and the DER is its
    // body base64-decoded.
    assert_eq!(pem(&a3_der(), "\n"), A3_PEM);
    assert_eq!(common::pem_contents(A3_PEM, "PUBLIC KEY"), a3_der());
    // And the A.4 PEM ends with the A.4 JWK's point, uncompressed (0x04, x, y).
    let a4 = common::pem_contents(A4_PEM, "PUBLIC KEY");
    assert_eq!(
        a4[a4.len() - 133..],
        [&[0x04][..], &unb64(A4_X), &unb64(A4_Y)].concat()[..]
    );
}

#[test]
fn a1_hs256_verifies_with_its_oct_jwk_and_with_its_raw_secret() {
    let ring = Ring::new();
    let jwk = ring.write("a1.jwk", json!({"kty": "oct", "k": A1_K}).to_string());
    let bom_jwk = ring.write(
        "a1.bom.jwk",
        format!("{BOM}{}", json!({"kty": "oct", "k": A1_K})),
    );
    let secret = ring.write("a1.secret", unb64(A1_K));
    for (what, args) in [
        ("--key JWK", ["--key", jwk.as_str()]),
        ("--key JWK with a BOM", ["--key", bom_jwk.as_str()]),
        ("--secret", ["--secret", secret.as_str()]),
    ] {
        let v = assert_vector(verify_at(&ring, NOW, A1, &args).ok(), "HS256", what);
        // The RFC's header says typ JWT: the generic profile takes it.
        assert_eq!(v["header"]["typ"], "JWT", "{what}");
    }
    assert!(!ring.dir.exists(), "no keyring was needed");
}

#[test]
fn a2_rs256_and_a3_es256_verify_with_every_key_file_form() {
    let ring = Ring::new();
    for (name, token, alg, jwk, der) in [
        ("a2", A2, "RS256", a2_jwk(), a2_der()),
        ("a3", A3, "ES256", a3_jwk(), a3_der()),
    ] {
        for (file, path) in forms(&ring, name, &jwk, &der) {
            assert_vector(
                verify_at(&ring, NOW, token, &["--key", &path]).ok(),
                alg,
                &file,
            );
        }
    }
    assert!(!ring.dir.exists(), "no keyring was needed");
}

#[test]
fn the_pem_encoded_here_is_what_keys_export_gives_and_its_body_is_the_der() {
    for (jwk, der, alg) in [(a2_jwk(), a2_der(), "RS256"), (a3_jwk(), a3_der(), "ES256")] {
        let ring = Ring::new();
        let file = ring.write("key.jwk", jwk.to_string());
        let v = ring
            .at(NOW, &["--json", "keys", "import", &file])
            .ok()
            .json();
        let imported = &v["imported"][0];
        assert_eq!(imported["alg"], alg);
        let kid = imported["kid"].as_str().unwrap();
        let exported = ring.export(kid, &["--format", "pem"]);
        assert_eq!(
            common::pem_contents(&exported, "PUBLIC KEY"),
            der,
            "{alg}: tollgate's PEM body decodes to the DER encoded here"
        );
        // The same text, with CR LF line ends (RFC 7468 lets parsers take either).
        assert_eq!(exported, pem(&der, "\r\n"), "{alg}");
    }
}

#[test]
fn the_vectors_expire_at_exp_plus_the_leeway() {
    let ring = Ring::new();
    let a1 = ring.write("a1.jwk", json!({"kty": "oct", "k": A1_K}).to_string());
    let a2 = ring.write("a2.jwk", a2_jwk().to_string());
    let a3 = ring.write("a3.pem", pem(&a3_der(), "\n"));
    for (token, key, alg) in [(A1, &a1, "HS256"), (A2, &a2, "RS256"), (A3, &a3, "ES256")] {
        // The last second within the default leeway, then the first one past it.
        assert_vector(
            verify_at(&ring, EXP + LEEWAY - 1, token, &["--key", key]).ok(),
            alg,
            "last valid second",
        );
        for now in [EXP + LEEWAY, EXP + 3600, 1_700_000_000] {
            let out = verify_at(&ring, now, token, &["--key", key]).code(1);
            assert_eq!(out.kind(), "expired", "{alg} at {now}");
            assert_eq!(out.json()["valid"], false);
        }
        // Without leeway, exp itself is the first expired second.
        verify_at(&ring, EXP - 1, token, &["--key", key, "--leeway", "0s"]).ok();
        let out = verify_at(&ring, EXP, token, &["--key", key, "--leeway", "0s"]).code(1);
        assert_eq!(out.kind(), "expired", "{alg}");
    }
}

#[test]
fn a4_es512_is_a_disallowed_algorithm() {
    let ring = Ring::new();
    // With a set holding A.3 and A.4 (P-521 is skipped, with a warning), and with A.3's key
    // alone: ES512 is not an algorithm tollgate accepts, whatever key is offered.
    let set = ring.write(
        "a3-a4.jwks.json",
        json!({"keys": [a3_jwk(), a4_jwk()]}).to_string(),
    );
    let a3 = ring.write("a3.pem", A3_PEM);
    for (what, key) in [("A.3 + A.4 JWK Set", &set), ("A.3 PEM", &a3)] {
        let out = verify_at(&ring, NOW, A4, &["--key", key]).code(1);
        assert_eq!(out.kind(), "disallowed_alg", "{what}: {}", out.stdout);
        assert_eq!(out.json()["valid"], false);
    }
    let out = verify_at(&ring, NOW, A4, &["--key", &set]);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("P-521"),
        "the skipped member is named: {}",
        out.stderr
    );
    // With its own P-521 key, in every form: a file whose only key tollgate cannot use is
    // itself refused (bad_key, exit 3, naming the curve) before any token is looked at.
    for (file, bytes) in [
        ("a4.pem", A4_PEM.as_bytes().to_vec()),
        ("a4.der", common::pem_contents(A4_PEM, "PUBLIC KEY")),
        ("a4.jwk", a4_jwk().to_string().into_bytes()),
        (
            "a4.jwks.json",
            json!({"keys": [a4_jwk()]}).to_string().into_bytes(),
        ),
    ] {
        let path = ring.write(file, bytes);
        let out = verify_at(&ring, NOW, A4, &["--key", &path]).code(3);
        assert_eq!(out.kind(), "bad_key", "{file}");
        assert!(out.all().contains("P-521"), "{file}: {}", out.all());
    }
    // Nor can a verifier ask for ES512: not an algorithm of the allow-list (usage, exit 2).
    let out = verify_at(&ring, NOW, A4, &["--key", &set, "--alg", "ES512"]).code(2);
    assert!(out.stderr.contains("ES512"), "{}", out.stderr);
}
