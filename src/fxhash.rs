//! FxHash, the hasher of rustc: a multiply and a rotate per word. For maps keyed by names
//! from the campaign file (step ids, template names) that the walk looks up at every step,
//! where SipHash cost more than the lookup. Not resistant to chosen keys: never for keys that
//! come from contacts, events or requests.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::FxMap;

    /// Names that differ only past the first word, or only in length (a zero byte), are told
    /// apart.
    #[test]
    fn a_map_of_step_ids_finds_each_and_only_each() {
        let ids = ["step", "step\0", "step1", "step_one_of_many", "step_one_of_mane", "", "a", "a\0\0"];
        let map: FxMap<String, usize> = ids.iter().enumerate().map(|(i, id)| (id.to_string(), i)).collect();
        assert_eq!(map.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.get(*id), Some(&i), "{id:?}");
        }
        assert_eq!(map.get("step2"), None);
    }
}
