//! herald's phone numbers against Google's libphonenumber: `tests/fixtures/phones/` holds what
//! the `phonenumbers` package (the reference) makes of every region's example numbers, written
//! several ways, truncated and padded (`make.py` there writes it). herald must give the same
//! E.164, or reject, on every line.

use herald::phone::{self, Region};

/// Lines where herald is known to differ from the reference, with the reason. Empty: none.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

struct Case {
    line: usize,
    region: String,
    input: String,
    expected: Option<String>,
    label: String,
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/fixtures/phones/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert_eq!(cells.len(), 4, "{path}:{}: {l:?}", i + 1);
            Case {
                line: i + 1,
                region: cells[0].to_string(),
                input: cells[1].to_string(),
                expected: (cells[2] != "-").then(|| cells[2].to_string()),
                label: cells[3].to_string(),
            }
        })
        .collect()
}

#[test]
fn agrees_with_libphonenumber() {
    let cases = cases("libphonenumber.tsv");
    assert!(cases.len() > 10_000, "the fixture has {} cases", cases.len());
    let mut differences = Vec::new();
    let (mut with_code, mut with_code_agree) = (0, 0);
    for case in &cases {
        let got = phone::normalise(&case.input, Region::parse(&case.region)).ok();
        let international = case.input.trim_start().starts_with('+') || case.input.trim_start().starts_with("00");
        with_code += usize::from(international);
        let known = KNOWN_DIFFERENCES.iter().any(|(r, i, _)| *r == case.region && *i == case.input);
        if got == case.expected {
            with_code_agree += usize::from(international);
        } else if !known {
            differences.push(format!(
                "line {}: {} in {} ({}): libphonenumber {:?}, herald {:?}",
                case.line, case.input, case.region, case.label, case.expected, got
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ ({with_code_agree} of {with_code} with a country code agree):\n{}",
        differences.len(),
        cases.len(),
        differences.iter().take(60).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Where the reference reads letters as keypad digits or drops an extension, herald rejects
/// the cell rather than guess: a message must go to the number the sheet meant.
#[test]
fn rejects_letters_the_reference_would_read() {
    for case in cases("letters.tsv") {
        assert!(case.expected.is_some(), "the reference accepts {}", case.input);
        let got = phone::normalise(&case.input, Region::parse(&case.region));
        assert!(got.is_err(), "{} ({}) gave {got:?}", case.input, case.label);
    }
}
