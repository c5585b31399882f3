use super::csv_file::*;
use super::import::*;
use super::*;
use crate::expr::{Type, TypeEnv, compile};
use crate::graph::FieldType;
use chrono::TimeZone;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

struct Fixture {
    dir: tempfile::TempDir,
    spec: ContactSpec,
    data: serde_json::Map<String, serde_json::Value>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().unwrap(), spec: ContactSpec::default(), data: serde_json::Map::new() }
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn fields(mut self, fields: &[(&str, FieldType)]) -> Fixture {
        self.spec.fields = fields.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        self
    }

    fn filter(mut self, source: &str) -> Fixture {
        let env = TypeEnv {
            data: self.data.keys().map(|k| (k.clone(), Type::Unknown)).collect(),
            contact_fields: None,
            split_steps: Vec::new(),
        };
        let (condition, _) = compile(source, &env).unwrap_or_else(|p| panic!("{source}: {p:?}"));
        self.spec.filter = Some(Arc::new(condition));
        self
    }

    fn settings(&self) -> ImportSettings<'_> {
        ImportSettings {
            spec: &self.spec,
            default_timezone: "America/New_York".parse().unwrap(),
            data: &self.data,
            campaign_id: "spring-promo",
            campaign_name: "Spring Promo",
            now: Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap(),
        }
    }

    fn open(&self, csv: &str) -> Result<Importer, ImportError> {
        let path = self.file("contacts.csv", csv);
        Importer::open(&path, self.settings())
    }

    /// Every row of `csv`, skipped rows without their problem; panics on an import error.
    fn rows(&self, csv: &str) -> Vec<Row> {
        self.rows_with_problems(csv).into_iter().map(bare).collect()
    }

    fn rows_with_problems(&self, csv: &str) -> Vec<Row> {
        self.open(csv).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
    }

    /// The described problem of every skipped row.
    fn problems(&self, csv: &str) -> Vec<String> {
        self.rows_with_problems(csv)
            .iter()
            .filter_map(|row| match row {
                Row::Skipped { line, problem, .. } => Some(problem.describe(*line)),
                Row::Contact(_) => None,
            })
            .collect()
    }
}

fn contact(row: &Row) -> &Contact {
    match row {
        Row::Contact(c) => c,
        other => panic!("expected a contact, got {other:?}"),
    }
}

fn skipped(line: u64, key: &str, reason: SkipReason) -> Row {
    Row::Skipped { line, key: Some(key.to_string()), reason, problem: Box::default() }
}

/// A skipped row with no key: it names no contact.
fn keyless(line: u64, reason: SkipReason) -> Row {
    Row::Skipped { line, key: None, reason, problem: Box::default() }
}

/// The row, skipped rows without their problem.
fn bare(row: Row) -> Row {
    match row {
        Row::Skipped { line, key, reason, .. } => Row::Skipped { line, key, reason, problem: Box::default() },
        row => row,
    }
}

fn keys(rows: &[Row]) -> Vec<&str> {
    rows.iter()
        .map(|r| match r {
            Row::Contact(c) => c.key.as_str(),
            Row::Skipped { .. } => "-",
        })
        .collect()
}

#[test]
fn bom_is_stripped_and_header_names_trimmed() {
    let f = Fixture::new();
    let importer = f.open("\u{feff}phone , first name ,\"timezone\"\n+14155550100,Ann,\n").unwrap();
    assert_eq!(importer.columns(), ["phone", "first name", "timezone"]);
    assert_eq!(importer.key_column(), "phone");
    let rows: Vec<Row> = importer.map(Result::unwrap).collect();
    let ann = contact(&rows[0]);
    assert_eq!(ann.key, "+14155550100");
    assert_eq!(ann.fields["first name"], "Ann");
    assert_eq!(ann.timezone, None);
    // A BOM before a quoted first name, too.
    let path = f.file("quoted.csv", "\u{feff}\"email\",x\nA@B.CO,1\n");
    assert_eq!(read_header(&path).unwrap(), ["email", "x"]);
}

#[test]
fn national_numbers_use_the_region() {
    let mut f = Fixture::new();
    let csv = "phone,name\n(415) 555-0100,a\n415.555.0101,b\n+44 20 7946 0958,c\n1-212-555-0199,d\n";
    let rows = f.rows(csv);
    assert_eq!(keys(&rows), ["+14155550100", "+14155550101", "+442079460958", "+12125550199"]);

    f.spec.region = Some("gb".to_string());
    let rows = f.rows("phone\n020 7946 0958\n07911 123456\n+1 415 555 0100\n(415) 555-0100\n");
    assert_eq!(keys(&rows)[..3], ["+442079460958", "+447911123456", "+14155550100"]);
    assert_eq!(rows[3], skipped(5, "(415) 555-0100", SkipReason::InvalidPhone));
}

#[test]
fn invalid_phones_are_skipped_with_the_cell() {
    let f = Fixture::new().fields(&[("mobile", FieldType::Phone)]);
    let csv = "phone,mobile\n12345,\nnot a phone,\n+1 415 555,\n555-0100 ext 4,\n+14155550100,(212) 555-0199\n+14155550101,call me\n";
    let rows = f.rows(csv);
    assert_eq!(rows[0], skipped(2, "12345", SkipReason::InvalidPhone));
    assert_eq!(rows[1], skipped(3, "not a phone", SkipReason::InvalidPhone));
    assert_eq!(rows[2], skipped(4, "+1 415 555", SkipReason::InvalidPhone));
    assert_eq!(rows[3], skipped(5, "555-0100 ext 4", SkipReason::InvalidPhone));
    assert_eq!(contact(&rows[4]).fields["mobile"], "+12125550199");
    assert_eq!(rows[5], skipped(7, "+14155550101", SkipReason::InvalidPhone));
}

#[test]
fn emails_are_lowercased_or_rejected() {
    let f = Fixture::new().fields(&[("work", FieldType::Email)]);
    let csv = "email,work\n  Ann@Example.COM ,BOSS@Corp.Example.org\nann@,\nann,\na b@x.com,\na@@x.com,\na@x,\na@x.,\na@x..com,\nbo@x.io,nope\n";
    let rows = f.rows(csv);
    let ann = contact(&rows[0]);
    assert_eq!(ann.key, "ann@example.com");
    assert_eq!(ann.fields["email"], "ann@example.com");
    assert_eq!(ann.fields["work"], "boss@corp.example.org");
    for (i, raw) in ["ann@", "ann", "a b@x.com", "a@@x.com", "a@x", "a@x.", "a@x..com"].iter().enumerate() {
        assert_eq!(rows[i + 1], skipped(i as u64 + 3, raw, SkipReason::InvalidEmail));
    }
    assert_eq!(rows[8], skipped(10, "bo@x.io", SkipReason::InvalidEmail));
}

#[test]
fn required_columns_must_be_filled() {
    let mut f = Fixture::new();
    f.spec.require = vec!["phone".to_string(), "name".to_string()];
    let rows = f.rows("phone,name\n+14155550100,Ann\n+14155550101,\n+14155550102,   \n,Cy\n");
    assert_eq!(contact(&rows[0]).key, "+14155550100");
    assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::MissingRequired));
    assert_eq!(rows[2], skipped(4, "+14155550102", SkipReason::MissingRequired));
    assert_eq!(rows[3], keyless(5, SkipReason::MissingKey));
    // A required column the file does not have: every row is skipped.
    f.spec.require = vec!["surname".to_string()];
    let rows = f.rows("phone,name\n+14155550100,Ann\n");
    assert_eq!(rows, [skipped(2, "+14155550100", SkipReason::MissingRequired)]);
}

#[test]
fn typed_fields_parse_or_skip_the_row() {
    let f = Fixture::new().fields(&[
        ("age", FieldType::Number),
        ("vip", FieldType::Bool),
        ("due", FieldType::Date),
        ("at", FieldType::DateTime),
        ("home", FieldType::Timezone),
        ("note", FieldType::String),
    ]);
    let csv = "\
id,age,vip,due,at,home,note,other
1,42,Yes,2026-12-01,2026-12-01T09:00:00-05:00,Europe/Paris, hi ,7
2, 2.5 ,0,,2026-12-01,,,
3,,,,,,,
4,abc,,,,,,
5,,maybe,,,,,
6,,,12/01/2026,,,,
7,,,2026-2-30,,,,
8,,,,tomorrow,,,
9,,,,,Mars/Base,,
10,inf,,,,,,
";
    let rows = f.rows(csv);
    let one = contact(&rows[0]);
    assert_eq!(one.key, "1");
    assert_eq!(
        serde_json::Value::Object(one.fields.to_map()),
        serde_json::json!({
            "id": "1", "age": 42, "vip": true, "due": "2026-12-01", "at": "2026-12-01T09:00:00-05:00",
            "home": "Europe/Paris", "note": " hi ", "other": "7"
        })
    );
    let two = contact(&rows[1]);
    assert_eq!(
        serde_json::Value::Object(two.fields.to_map()),
        serde_json::json!({
            "id": "2", "age": 2.5, "vip": false, "at": "2026-12-01", "note": "", "other": ""
        })
    );
    // Empty text cells are empty text; empty typed cells (number, bool, dates, zones) are absent.
    assert_eq!(
        serde_json::Value::Object(contact(&rows[2]).fields.to_map()),
        serde_json::json!({ "id": "3", "note": "", "other": "" })
    );
    for (i, row) in rows.iter().enumerate().skip(3) {
        let id = (i + 1).to_string();
        assert_eq!(*row, skipped(i as u64 + 2, &id, SkipReason::InvalidField));
    }
}

#[test]
fn the_timezone_column_is_checked_and_kept() {
    let f = Fixture::new();
    let rows = f.rows("phone,timezone\n+14155550100,America/Chicago\n+14155550101, Europe/Berlin \n+14155550102,\n+14155550103,Central\n+14155550104,america/chicago\n");
    assert_eq!(contact(&rows[0]).timezone.as_deref(), Some("America/Chicago"));
    assert_eq!(contact(&rows[0]).fields["timezone"], "America/Chicago");
    assert_eq!(contact(&rows[1]).timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(contact(&rows[2]).timezone, None);
    assert_eq!(rows[3], skipped(5, "+14155550103", SkipReason::InvalidTimezone));
    assert_eq!(rows[4], skipped(6, "+14155550104", SkipReason::InvalidTimezone));
}

#[test]
fn duplicates_by_normalised_key_first_wins() {
    let f = Fixture::new();
    let csv =
        "phone,name\n(415) 555-0100,first\n+1 415 555 0100,second\n415-555-0101,other\n14155550100,third\nbad,x\n";
    let rows = f.rows(csv);
    assert_eq!(contact(&rows[0]).fields["name"], "first");
    assert_eq!(rows[1], skipped(3, "+14155550100", SkipReason::Duplicate));
    assert_eq!(contact(&rows[2]).key, "+14155550101");
    assert_eq!(rows[3], skipped(5, "+14155550100", SkipReason::Duplicate));
    let rows = f.rows("email,age\nA@x.io,\na@X.io,\n");
    assert_eq!(rows[1], skipped(3, "a@x.io", SkipReason::Duplicate));
    // A skipped row claims its key too: the first row decides, and the store holds one
    // lead per key, the one the report counts.
    let f = Fixture::new().fields(&[("age", FieldType::Number)]);
    let rows = f.rows("email,age\na@x.io,old\nA@x.io,40\n");
    assert_eq!(rows[0], skipped(2, "a@x.io", SkipReason::InvalidField));
    assert_eq!(rows[1], skipped(3, "a@x.io", SkipReason::Duplicate));
}

#[test]
fn suppression_lists_in_both_formats_and_from_the_caller() {
    let mut f = Fixture::new();
    let dnc = f.file(
        "dnc.csv",
        "address,reason\n+14155550101,asked\n\"(415) 555-0102\",litigation\nBen@Example.com,unsubscribed\n",
    );
    let plain = f.file("plain.txt", "# opt-outs\n415 555 0103\n\n  +1 (415) 555-0104  \n");
    f.spec.suppress = vec![dnc, plain];
    let csv = "phone,email\n+14155550100,ann@example.com\n+14155550101,\n4155550102,\n+14155550103,\n+14155550104,\n+14155550105,ben@example.com\n+14155550106,\n+14155550107,cy@example.com\n";
    let importer = f.open(csv).unwrap();
    let importer = importer.with_suppressed(Box::new(|value| value == "+14155550106" || value == "cy@example.com"));
    let rows: Vec<Row> = importer.map(|row| bare(row.unwrap())).collect();
    assert_eq!(contact(&rows[0]).key, "+14155550100");
    for (i, row) in rows.iter().enumerate().skip(1) {
        assert_eq!(*row, skipped(i as u64 + 2, &format!("+1415555010{i}"), SkipReason::Suppressed), "row {i}");
    }
    // A header line that is a phone is an entry; a list of ids suppresses ids.
    let mut f = Fixture::new();
    let ids = f.file("ids.txt", "C-2\nC-3\n");
    let phones = f.file("phones.txt", "+14155550100\n");
    f.spec.suppress = vec![ids, phones];
    f.spec.key = Some("id".to_string());
    let rows = f.rows("id,phone\nC-1,\nC-2,\nC-3,\nC-4,+14155550100\n");
    assert_eq!(keys(&rows), ["C-1", "C-2", "-", "-"]);
    // A missing list is an error.
    f.spec.suppress = vec![f.dir.path().join("nowhere.csv")];
    let error = f.open("id\n").unwrap_err();
    assert!(matches!(error, ImportError::Suppress { .. }), "{error:?}");
    assert!(error.to_string().contains("nowhere.csv"), "{error}");
}

#[test]
fn where_filter_reads_typed_fields_data_and_campaign() {
    let mut f = Fixture::new().fields(&[("employees", FieldType::Number), ("renewal", FieldType::Date)]);
    f.data.insert("threshold".to_string(), serde_json::json!(100));
    f.data.insert("company".to_string(), serde_json::json!({ "market": "US" }));
    let f = f.filter(
        "contact.employees >= threshold and contact.country == company.market and campaign.id == \"spring-promo\" \
         and not exists(vars.x) and contact.renewal < now + 7d",
    );
    let csv = "\
email,employees,country,renewal
a@x.io,240,US,2026-12-05
b@x.io,35,US,2026-12-05
c@x.io,1200,DE,2026-12-05
d@x.io,,US,2026-12-05
e@x.io,100,US,2027-01-05
";
    let rows = f.rows(csv);
    assert_eq!(contact(&rows[0]).key, "a@x.io");
    for (i, key) in ["b@x.io", "c@x.io", "d@x.io", "e@x.io"].iter().enumerate() {
        assert_eq!(rows[i + 1], skipped(i as u64 + 3, key, SkipReason::Filtered));
    }
}

#[test]
fn the_filter_uses_the_contacts_timezone() {
    // now is 2026-12-01 15:00 UTC: 10:00 in New York, 00:00 on 2 Dec in Tokyo.
    let f = Fixture::new().filter("hour(now) == 10");
    let rows = f.rows("phone,timezone\n+14155550100,\n+14155550101,Asia/Tokyo\n");
    assert_eq!(contact(&rows[0]).key, "+14155550100");
    assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::Filtered));
}

#[test]
fn a_row_with_the_wrong_cell_count_is_skipped_with_its_line() {
    let f = Fixture::new();
    let csv = "phone,name\n+14155550100,Ann\n+14155550101,Ben,extra\n\n+14155550102\n\"+14155550103\",\"multi\nline\"\n,,\n+14155550104,Dee\n";
    let rows = f.rows(csv);
    assert_eq!(contact(&rows[0]).key, "+14155550100");
    assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::InvalidRow));
    assert_eq!(rows[2], skipped(5, "+14155550102", SkipReason::InvalidRow));
    assert_eq!(contact(&rows[3]).fields["name"], "multi\nline");
    assert_eq!(rows[4], keyless(8, SkipReason::InvalidRow));
    assert_eq!(rows[5], Row::Contact(contact(&rows[5]).clone()));
    assert_eq!(contact(&rows[5]).key, "+14155550104");
    // CRLF line endings count lines the same way.
    let rows = f.rows("phone,name\r\n+14155550100,Ann\r\n+14155550101\r\n");
    assert_eq!(rows[1], skipped(3, "+14155550101", SkipReason::InvalidRow));
}

#[test]
fn an_unbalanced_quote_is_malformed_at_its_line() {
    let f = Fixture::new();
    // A stray quote inside a cell is text, as in `csv`; one that opens a cell must close.
    let csv = "phone,name\n+14155550100,\"Ann\n+14155550101,Ben\n+14155550102,Cy\n";
    let mut importer = f.open(csv).unwrap();
    let error = importer.next().unwrap().unwrap_err();
    match &error {
        ImportError::Malformed { line, .. } => assert_eq!(*line, 2),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("contacts.csv:2: malformed CSV"), "{error}");
    assert!(importer.next().is_none());

    let rows = f.rows("phone,name\n+14155550100,55\" TV\n+14155550101,\"a \"\"quote\"\"\"\n");
    assert_eq!(contact(&rows[0]).fields["name"], "55\" TV");
    assert_eq!(contact(&rows[1]).fields["name"], "a \"quote\"");

    // Good rows before it come first; a long file stops at the limit instead of reading
    // everything into one cell.
    let mut csv = String::from("phone,name\n+14155550100,Ann\n+14155550101,\"Ben\n");
    for i in 0..60_000 {
        csv.push_str(&format!("+1415555{:04},Someone\n", i % 10_000));
    }
    let mut importer = f.open(&csv).unwrap();
    assert!(matches!(importer.next(), Some(Ok(Row::Contact(_)))));
    assert!(matches!(importer.next(), Some(Err(ImportError::Malformed { line: 3, .. }))));
    assert!(importer.next().is_none());

    // In the header.
    let path = f.file("header.csv", "phone,\"name\n1,2\n");
    assert!(matches!(read_header(&path), Err(ImportError::Malformed { line: 1, .. })));
}

/// The tracker's runs of plain bytes give what stepping byte by byte gives (the state
/// machine below, as the tracker was first written): each record's first line, the state,
/// the line and where a quoted field opened, whatever the bytes and however reads split them.
#[test]
fn quote_tracking_by_runs_agrees_with_byte_by_byte() {
    use proptest::prelude::*;

    fn by_bytes(bytes: &[u8]) -> (Vec<u64>, bool, u64, u64, u64) {
        let (mut state, mut line, mut opened, mut quoted, mut starts) = (QuoteState::RecordStart, 1, 0, 0, Vec::new());
        for &b in bytes {
            let terminator = matches!(b, b'\n' | b'\r');
            if state == QuoteState::RecordStart && !terminator {
                starts.push(line);
                state = QuoteState::FieldStart;
            }
            state = match (state, b) {
                (QuoteState::FieldStart, b'"') => {
                    (opened, quoted) = (line, 0);
                    QuoteState::Quoted
                }
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => {
                    quoted += 1;
                    QuoteState::Quoted
                }
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, _) if terminator => QuoteState::RecordStart,
                (_, b',') => QuoteState::FieldStart,
                (_, _) => QuoteState::Unquoted,
            };
            if b == b'\n' {
                line += 1;
            }
        }
        (starts, state == QuoteState::Quoted, line, opened, quoted)
    }

    /// Hands out at most `chunk` bytes per read.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    let bytes = proptest::collection::vec(prop::sample::select(b"ab,\"\n\r".to_vec()), 0..80);
    proptest!(ProptestConfig::with_cases(2_000), |(bytes in bytes, chunk in 1usize..9)| {
        let mut tracker = QuoteTracker::new(io::BufReader::with_capacity(chunk, Trickle(&bytes, chunk))).unwrap();
        let mut out = Vec::new();
        tracker.read_to_end(&mut out).unwrap();
        prop_assert_eq!(&out, &bytes);
        let runs = (
            tracker.starts.iter().copied().collect::<Vec<_>>(),
            tracker.state == QuoteState::Quoted,
            tracker.line,
            tracker.opened,
            tracker.quoted,
        );
        prop_assert_eq!(runs, by_bytes(&bytes));
    });
}

#[test]
fn invalid_utf8_is_malformed_at_its_line() {
    let f = Fixture::new();
    let path = f.file("latin1.csv", b"phone,name\n+14155550100,Ann\n+14155550101,Jos\xe9\n".as_slice());
    let mut importer = Importer::open(&path, f.settings()).unwrap();
    assert!(matches!(importer.next(), Some(Ok(Row::Contact(_)))));
    let error = importer.next().unwrap().unwrap_err();
    assert!(matches!(error, ImportError::Malformed { line: 3, .. }), "{error:?}");
    assert!(error.to_string().contains("UTF-8"), "{error}");
}

#[test]
fn the_key_column_must_exist() {
    let mut f = Fixture::new();
    let error = f.open("name,city\nAnn,Paris\n").unwrap_err();
    match &error {
        ImportError::NoKeyColumn { columns, .. } => assert_eq!(columns, &["name", "city"]),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("`name`, `city`"), "{error}");
    f.spec.key = Some("customer_id".to_string());
    let error = f.open("phone,name\n+14155550100,Ann\n").unwrap_err();
    assert!(error.to_string().contains("key column `customer_id` is not in the header"), "{error}");
    // Defaults: phone, then email, then id.
    assert_eq!(Fixture::new().open("id,email\n").unwrap().key_column(), "email");
    assert_eq!(Fixture::new().open("id,name\n").unwrap().key_column(), "id");
    f.spec.key = Some("name".to_string());
    let rows = f.rows("phone,name\n+14155550100, Ann \n");
    assert_eq!(contact(&rows[0]).key, "Ann");
    // Empty files and duplicate names.
    assert!(matches!(Fixture::new().open(""), Err(ImportError::Malformed { line: 1, .. })));
    assert!(matches!(Fixture::new().open("phone,x,x\n"), Err(ImportError::Malformed { line: 1, .. })));
    let error = Importer::open(Path::new("/nonexistent/contacts.csv"), f.settings()).unwrap_err();
    assert!(matches!(error, ImportError::Open { .. }), "{error:?}");
}

#[test]
fn the_report_counts_rows_per_reason() {
    let mut f = Fixture::new().filter("contact.name != \"skip\"");
    f.spec.suppress = vec![f.file("dnc.txt", "+14155550109\n")];
    let csv = "\
phone,name
+14155550100,a
bad,b
+14155550100,c
+14155550109,d
+14155550102,skip
+14155550103,e
,f
+14155550104,g,h
";
    let mut report = ImportReport::default();
    for row in f.open(csv).unwrap() {
        report.record(&row.unwrap());
    }
    assert_eq!(report.read, 8);
    assert_eq!(report.imported, 2);
    assert_eq!(report.skipped_total(), 6);
    assert_eq!(report.skipped[&SkipReason::Duplicate], 1);
    assert_eq!(
        report.to_string(),
        "8 rows: 2 imported, 6 skipped (1 invalid_row, 1 missing_key, 1 invalid_phone, 1 duplicate, 1 suppressed, 1 filtered)"
    );
    let big = ImportReport {
        read: 1000,
        imported: 990,
        skipped: BTreeMap::from([
            (SkipReason::Filtered, 1),
            (SkipReason::InvalidPhone, 4),
            (SkipReason::Suppressed, 2),
            (SkipReason::Duplicate, 3),
        ]),
        ..ImportReport::default()
    };
    assert_eq!(
        big.to_string(),
        "1,000 rows: 990 imported, 10 skipped (4 invalid_phone, 3 duplicate, 2 suppressed, 1 filtered)"
    );
    let one = ImportReport { read: 1, imported: 1, ..ImportReport::default() };
    assert_eq!(one.to_string(), "1 row: 1 imported, 0 skipped");
    assert_eq!(thousands(1_234_567), "1,234,567");
    for reason in SkipReason::ALL {
        assert_eq!(SkipReason::parse(reason.as_str()), Some(reason));
        assert!(!reason.describe().is_empty());
    }
}

fn generated(rows: usize) -> String {
    const AREAS: [u32; 10] = [212, 415, 646, 312, 617, 206, 303, 404, 512, 702];
    let mut csv = String::with_capacity(rows * 80);
    csv.push_str("phone,email,first_name,employees,timezone\n");
    for i in 0..rows {
        let area = AREAS[i % AREAS.len()];
        let rest = i / AREAS.len();
        let exchange = 234 + rest / 10_000;
        let line = rest % 10_000;
        let phone = match i % 3 {
            0 => format!("({area}) {exchange}-{line:04}"),
            1 => format!("+1 {area} {exchange} {line:04}"),
            _ => format!("{area}.{exchange}.{line:04}"),
        };
        csv.push_str(&format!("{phone},user{i}@example.com,Name{i},{},America/Chicago\n", i % 500));
    }
    csv
}

/// Seconds this thread has run on a CPU (Linux), so that a loaded machine does not fail the
/// speed check; elsewhere, wall-clock seconds.
fn cpu_seconds(started: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| started.elapsed().as_secs_f64(), |ns| ns / 1e9)
}

/// Import `rows` generated rows: the report, wall-clock seconds and CPU seconds.
fn stream(f: &Fixture, rows: usize) -> (ImportReport, f64, f64) {
    let path = f.file("big.csv", generated(rows));
    // Linux: restart the peak-memory count (VmHWM) here, after generating the file.
    _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let cpu_before = cpu_seconds(started);
    let mut report = ImportReport::default();
    for row in Importer::open(&path, f.settings()).unwrap() {
        report.record(&row.unwrap());
    }
    (report, started.elapsed().as_secs_f64(), cpu_seconds(started) - cpu_before)
}

#[test]
fn a_large_file_streams() {
    // The full size in release; a tenth in debug builds, where the phone parser is slow.
    let rows = if cfg!(debug_assertions) { 20_000 } else { 200_000 };
    let f = Fixture::new().fields(&[("employees", FieldType::Number)]).filter("contact.employees >= 0");
    let (report, seconds, cpu) = stream(&f, rows);
    assert_eq!(report.read, rows as u64);
    assert_eq!(report.imported, rows as u64, "{report}");
    eprintln!("{rows} rows in {seconds:.2}s ({cpu:.2}s CPU): {:.0} rows/s", rows as f64 / seconds);
    if !cfg!(debug_assertions) {
        assert!(cpu < 5.0, "{rows} rows took {cpu:.2}s of CPU");
    }
}

/// Speed and peak memory for a million rows:
/// `cargo test --release --lib contacts::tests::a_million_rows -- --ignored --nocapture`
#[test]
#[ignore]
fn a_million_rows() {
    let f = Fixture::new();
    let (report, seconds, _) = stream(&f, 1_000_000);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    eprintln!("{report} in {seconds:.2}s ({:.0} rows/s); {peak}", report.read as f64 / seconds);
}

#[test]
fn every_skipped_row_says_line_column_value_and_why() {
    let f = Fixture::new().fields(&[("appointment_date", FieldType::Date), ("visits", FieldType::Number)]);
    let csv = "\
phone,appointment_date,visits,timezone
+14155550100,2026-03-10,1,America/New_York
+14155550101,03/10/2026,1,
+14155550102,2026-03-10,many,
+14155550103,2026-03-10,1,PST
+1415555010,2026-03-10,1,
+14155550100,2026-03-11,2,
+14155550104,2026-03-10
,2026-03-10,1,
+14155550105,2026-03-10,1,america/chicago
";
    assert_eq!(
        f.problems(csv),
        [
            r#"line 3: column appointment_date: "03/10/2026" is not a date (expected 2026-03-10)"#,
            r#"line 4: column visits: "many" is not a number"#,
            r#"line 5: column timezone: "PST" is not an IANA time zone name (did you mean America/Los_Angeles?)"#,
            r#"line 6: column phone: "+1415555010" is not a valid number in US"#,
            "line 7: duplicates line 2 (the same phone +14155550100)",
            "line 8: the row has 2 cells, the header 4",
            "line 9: column phone: is empty (the key column)",
            r#"line 10: column timezone: "america/chicago" is not an IANA time zone name (did you mean America/Chicago?)"#,
        ]
    );
    let long = "x".repeat(100);
    let problems = f.problems(&format!("phone,visits\n+14155550100,{long}\n"));
    assert_eq!(problems, [format!("line 2: column visits: {:?}… is not a number", "x".repeat(60))]);
}

#[test]
fn the_region_column_reads_national_numbers_and_plus_numbers_keep_their_country() {
    let mut f = Fixture::new();
    f.spec.region = Some("US".into());
    let csv = "phone,region\n07911 123456,GB\n(415) 555-0102,\n+4917612345678,US\n0049 176 12345678,\n030 123456,XX\n(302) 555-0123,DE\n(415) 555-0103,West\n";
    let rows = f.rows(csv);
    assert_eq!(keys(&rows), ["+447911123456", "+14155550102", "+4917612345678", "-", "-", "-", "+14155550103"]);
    assert_eq!(rows[3], skipped(5, "+4917612345678", SkipReason::Duplicate));
    // A region cell that is no region (a sales region) is not the numbers' country; a number
    // that is valid in the row's region and in contacts.region as two numbers is refused
    // (Delaware's DE is Germany's).
    let problems = f.problems(csv);
    assert_eq!(problems[1], r#"line 6: column phone: "030 123456" is not a valid number in US"#);
    assert_eq!(
        problems[2],
        r#"line 7: column phone: "(302) 555-0123" is +493025550123 in DE (the region column) and +13025550123 in US (contacts.region): write it with its country code"#
    );
}

#[test]
fn fixed_offset_zones_are_imported_with_a_warning() {
    let f = Fixture::new();
    let mut report = ImportReport::default();
    for row in f.open("phone,timezone\n+14155550100,EST\n+14155550101,EST\n+14155550102,America/Denver\n").unwrap() {
        report.record(&row.unwrap());
    }
    assert_eq!(report.imported, 3);
    assert_eq!(
        report.details(),
        [
            "  warning: 2 contacts have the fixed-offset zone EST, which never changes to daylight saving time (did you mean America/New_York?)"
        ]
    );
}

#[test]
fn the_report_lists_the_first_problems_and_counts_the_rest() {
    let f = Fixture::new();
    let csv: String = std::iter::once("phone\n".to_string()).chain((0..25).map(|i| format!("bad{i}\n"))).collect();
    let mut report = ImportReport::default();
    for row in f.open(&csv).unwrap() {
        report.record(&row.unwrap());
    }
    let details = report.details();
    assert_eq!(details.len(), EXAMPLES + 1);
    assert_eq!(
        details[0],
        r#"  line 2: column phone: "bad0" has `b` in it (only digits, `+` and the punctuation around numbers are read)"#
    );
    assert_eq!(details[EXAMPLES], "  … and 5 more (--rejects FILE writes every rejected row)");
}

#[test]
fn rejects_are_written_beside_and_never_over_a_foreign_file() {
    let f = Fixture::new();
    let path = f.dir.path().join("rejects.csv");
    let contacts = f.dir.path().join("contacts.csv");
    let mut rejects = Rejects::create(&path, &contacts).unwrap();
    let importer = f.open("phone,name\n+14155550100,Ann\nbad,\"Bo, Jr\"\n+14155550100,Cy\n").unwrap();
    rejects.header(importer.columns()).unwrap();
    for row in importer {
        rejects.write(&row.unwrap()).unwrap();
    }
    assert_eq!(rejects.finish().unwrap(), 2);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        "phone,name,line,column,value,reason\nbad,\"Bo, Jr\",3,phone,bad,invalid_phone\n+14155550100,Cy,4,,,duplicate\n"
    );
    // Its own file is replaced; anything else is not.
    assert!(Rejects::create(&path, &contacts).is_ok());
    let foreign = f.file("contacts.csv", "phone\n+14155550100\n");
    let error = Rejects::create(&foreign, &path).err().unwrap().to_string();
    assert!(error.contains("not a rejects file herald wrote"), "{error}");
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "phone\n+14155550100\n");
    assert!(Rejects::create(f.dir.path(), &contacts).is_err());
    // Its own rejects file is the contacts file when fed back in: never its own target.
    assert!(Rejects::create(&path, &path).err().unwrap().to_string().contains("is the contacts file"));
}

/// An endless row (`/dev/zero`-like: `0` forever, no newline) is cut at `MAX_RECORD`, read past
/// up to `MAX_SKIP_BYTES`, then refused with its line: never held in memory.
#[test]
fn an_endless_row_is_refused_after_the_skip_limit() {
    struct Endless;
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'0');
            Ok(buf.len())
        }
    }
    let header = io::Cursor::new(b"phone,name\n".to_vec()).chain(Endless);
    let tracker = QuoteTracker::new(io::BufReader::with_capacity(64 * 1024, header)).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(tracker);
    let mut record = csv::StringRecord::new();
    assert!(reader.read_record(&mut record).unwrap());
    let error = reader.read_record(&mut record).unwrap_err();
    assert!(error.to_string().contains("the row on line 2 is too long"), "{error}");
    assert!(record.as_slice().len() <= (MAX_RECORD as usize) + 64 * 1024, "{}", record.as_slice().len());
    assert_eq!(reader.get_ref().cut.front(), Some(&2));
}
