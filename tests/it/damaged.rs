//! A database file damaged on disk (issue 20 #12): truncated, or with bytes flipped in the
//! middle, each seeded. Every command that opens it says the file is damaged and exits 2; none
//! shows a panic, and none writes to it.

use crate::herald::herald_in;
use crate::support::next;

const ASK: &str = "\
id: ask
channel: sms
contacts:
  key: id
steps:
  - id: wait_reply
    await: { reply: 30d }
";

/// The ways a file gets damaged: cut short (a copy that stopped, a full disk), and bytes
/// changed in the middle (a bad sector, a stray write); three seeds of each.
fn damaged(original: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = original.len();
    let mut out = Vec::new();
    for seed in 1..=3u64 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let cut = n / 4 + (next(&mut s) as usize) % (n / 2);
        out.push((format!("cut at {cut} of {n} bytes (seed {seed})"), original[..cut].to_vec()));
        let mut flipped = original.to_vec();
        for _ in 0..200 {
            let at = 4096 + (next(&mut s) as usize) % (n - 4096);
            flipped[at] ^= 0xff;
        }
        out.push((format!("200 bytes flipped (seed {seed})"), flipped));
    }
    out
}

#[test]
fn a_damaged_database_is_refused_by_every_command_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ask.yaml"), ASK).unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..2_000 {
        csv.push_str(&format!("{i},N{i}\n"));
    }
    std::fs::write(d.join("c.csv"), csv).unwrap();
    std::fs::write(d.join("ev.jsonl"), "{\"type\":\"reply\",\"contact\":\"5\",\"text\":\"hi\"}\n").unwrap();
    let first = herald_in(d, &["run", "ask.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"]);
    assert!(first.status.success(), "{}", first.stderr);
    let original = std::fs::read(d.join("h.redb")).unwrap();
    let commands: [&[&str]; 5] = [
        &["status", "--db", "d.redb"],
        &["export", "ask", "--db", "d.redb"],
        &["run", "ask.yaml", "--db", "d.redb", "--once", "--outbox", "out.jsonl"],
        &["ingest", "ev.jsonl", "--db", "d.redb"],
        &["simulate", "ask.yaml", "--contacts", "c.csv", "--db", "d.redb", "--format", "summary"],
    ];
    for (how, bytes) in damaged(&original) {
        for args in commands {
            std::fs::write(d.join("d.redb"), &bytes).unwrap();
            let out = herald_in(d, args);
            let err = &out.stderr;
            assert_eq!(out.status.code(), Some(2), "{how}, {args:?}: {err}");
            assert!(err.contains("the database file d.redb is damaged"), "{how}, {args:?}: {err}");
            assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{how}, {args:?}: {err}");
            assert!(!err.contains("did not expect"), "{how}, {args:?}: {err}");
            let after = std::fs::read(d.join("d.redb")).unwrap();
            // redb marks a file it opens for writing in its header (byte 9); nothing else changes.
            let changed = after.iter().zip(&bytes).enumerate().filter(|(i, (a, b))| a != b && *i >= 64).count();
            assert_eq!((after.len(), changed), (bytes.len(), 0), "{how}, {args:?}: the damaged file was written to");
        }
    }
}
