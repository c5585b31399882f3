//! Equality of the short texts the walk compares many times per lead (step ids, statuses,
//! channels): two strings of the same length up to 16 bytes are compared as two overlapping
//! words each, without a call to `memcmp`, which costs more than the comparison for such
//! lengths. Longer strings are compared as usual.

/// Whether `a` and `b` are the same text.
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

/// The 4 bytes of `s` from `at` (which the caller keeps in range) as a number.
#[inline]
fn word4(s: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The 8 bytes of `s` from `at` as a number.
#[inline]
fn word8(s: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::same;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Any two texts, mostly of one length and alike, so that equal and nearly equal pairs
        /// of every length up to 20 bytes come up.
        #[test]
        fn same_is_equality(a in "[ab]{0,20}", flip in any::<prop::sample::Index>(), other in "[ab]{0,20}") {
            prop_assert_eq!(same(&a, &other), a == other);
            // `a` with one byte changed: equal lengths, unequal at one place.
            if !a.is_empty() {
                let i = flip.index(a.len());
                let mut b = a.clone().into_bytes();
                b[i] = if b[i] == b'a' { b'b' } else { b'a' };
                let b = String::from_utf8(b).unwrap_or_default();
                prop_assert!(!same(&a, &b));
                prop_assert!(same(&a, &a.clone()));
            }
        }

        #[test]
        fn same_is_equality_for_any_text(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            prop_assert_eq!(same(&a, &b), a == b);
        }
    }
}
