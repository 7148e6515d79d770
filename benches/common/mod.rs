//! What the benchmarks share: the key set. (Each bench includes this module and uses part of it.)
#![allow(dead_code)]

/// Distinct, random-looking 16-byte keys without storing them: the first word is a bijection of
/// the counter, so no two counters give the same key.
pub fn key(i: u64) -> [u8; 16] {
    let a = mix(i ^ 0x243F_6A88_85A3_08D3);
    let b = mix(a ^ 0x1319_8A2E_0370_7344);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_le_bytes());
    k[8..].copy_from_slice(&b.to_le_bytes());
    k
}

/// The splitmix64 finalizer, a bijection on u64.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
