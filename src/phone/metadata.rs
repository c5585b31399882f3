//! libphonenumber's metadata for parsing and validating: per region its calling code, prefixes
//! and number patterns, read from `metadata.json` on first use; each region's patterns are
//! compiled the first time a number of that region is read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use serde::Deserialize;

/// libphonenumber's code for the regions of non-geographic calling codes (`+800`, `+882`, …).
pub const NON_GEO: &str = "001";

#[derive(Deserialize)]
struct RawDesc {
    pattern: String,
    lengths: Vec<u8>,
    #[serde(default)]
    local: Vec<u8>,
}

#[derive(Deserialize)]
struct RawRegion {
    id: String,
    code: u16,
    international_prefix: Option<String>,
    national_prefix_for_parsing: Option<String>,
    national_prefix_transform_rule: Option<String>,
    leading_digits: Option<String>,
    general: RawDesc,
    types: Vec<RawDesc>,
}

#[derive(Deserialize)]
struct RawMetadata {
    version: String,
    codes: BTreeMap<String, Vec<String>>,
    regions: BTreeMap<String, RawRegion>,
    non_geo: BTreeMap<String, RawRegion>,
}

/// Every region, and the calling codes' regions in libphonenumber's order (main region first).
pub struct Metadata {
    pub version: String,
    regions: Vec<Region>,
    by_id: HashMap<String, usize>,
    by_code: HashMap<u16, Vec<usize>>,
}

pub static METADATA: LazyLock<Metadata> = LazyLock::new(|| {
    let raw: RawMetadata = serde_json::from_str(include_str!("metadata.json"))
        .expect("src/phone/metadata.json is valid (a unit test reads it)");
    Metadata::new(raw)
});

impl Metadata {
    fn new(raw: RawMetadata) -> Metadata {
        let mut regions = Vec::new();
        let mut by_id = HashMap::new();
        let mut non_geo = HashMap::new();
        for (id, region) in raw.regions {
            by_id.insert(id, regions.len());
            regions.push(Region::new(region));
        }
        for (_, region) in raw.non_geo {
            non_geo.insert(region.code, regions.len());
            regions.push(Region::new(region));
        }
        let mut by_code = HashMap::new();
        for (code, ids) in raw.codes {
            let Ok(code) = code.parse::<u16>() else { continue };
            let indices: Vec<usize> = ids
                .iter()
                .filter_map(|id| if id == NON_GEO { non_geo.get(&code).copied() } else { by_id.get(id).copied() })
                .collect();
            by_code.insert(code, indices);
        }
        Metadata { version: raw.version, regions, by_id, by_code }
    }

    /// A region by its code (`US`), geographic regions only.
    pub fn region_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn region(&self, index: usize) -> &Region {
        &self.regions[index]
    }

    pub fn is_calling_code(&self, code: u16) -> bool {
        self.by_code.contains_key(&code)
    }

    /// The regions of a calling code, its main region first.
    pub fn regions_of(&self, code: u16) -> impl Iterator<Item = &Region> {
        self.by_code.get(&code).into_iter().flatten().map(|&i| &self.regions[i])
    }

    #[cfg(test)]
    pub fn all(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter()
    }
}

/// One region's metadata, as written, and its patterns once compiled.
pub struct Region {
    pub id: String,
    pub code: u16,
    raw: RawRegion,
    compiled: OnceLock<Option<Compiled>>,
}

/// A number description: the lengths it allows (empty: the general description's) and its
/// pattern, matched against the whole national number.
pub struct Desc {
    lengths: Vec<u8>,
    whole: Regex,
}

impl Desc {
    fn new(raw: &RawDesc) -> Option<Desc> {
        Some(Desc { lengths: raw.lengths.clone(), whole: anchored(&raw.pattern, true)? })
    }

    /// libphonenumber's `_is_number_matching_desc`: a possible length and a whole match.
    fn matches(&self, national: &str) -> bool {
        let length_ok =
            self.lengths.is_empty() || u8::try_from(national.len()).is_ok_and(|n| self.lengths.contains(&n));
        length_ok && self.whole.is_match(national)
    }
}

pub struct Compiled {
    pub code: u16,
    pub general: Desc,
    general_local: Vec<u8>,
    types: Vec<Desc>,
    /// The international (IDD) prefix, matched at the start.
    pub international_prefix: Option<Regex>,
    /// The national prefix for parsing, matched at the start (`.0`) and searched for (`.1`, as
    /// Python's `re.sub` does when it applies the transform rule).
    pub national_prefix: Option<(Regex, Regex)>,
    pub transform_rule: Option<String>,
    leading_digits: Option<Regex>,
}

/// What libphonenumber's `_test_number_length` says of a national number's length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

impl Region {
    fn new(raw: RawRegion) -> Region {
        Region { id: raw.id.clone(), code: raw.code, raw, compiled: OnceLock::new() }
    }

    /// The compiled patterns; `None` when one of them does not compile (a unit test checks
    /// that every region's do), and then no number of the region is valid.
    pub fn compiled(&self) -> Option<&Compiled> {
        self.compiled.get_or_init(|| self.compile()).as_ref()
    }

    fn compile(&self) -> Option<Compiled> {
        let raw = &self.raw;
        let optional = |pattern: &Option<String>, whole: bool| match pattern.as_deref() {
            Some(p) if !p.is_empty() => anchored(p, whole).map(Some),
            _ => Some(None),
        };
        let national_prefix = match raw.national_prefix_for_parsing.as_deref() {
            Some(p) if !p.is_empty() => Some((anchored(p, false)?, Regex::new(&ascii_digits(p)).ok()?)),
            _ => None,
        };
        Some(Compiled {
            code: raw.code,
            general: Desc::new(&raw.general)?,
            general_local: raw.general.local.clone(),
            types: raw.types.iter().map(Desc::new).collect::<Option<_>>()?,
            international_prefix: optional(&raw.international_prefix, false)?,
            national_prefix,
            transform_rule: raw.national_prefix_transform_rule.clone().filter(|r| !r.is_empty()),
            leading_digits: optional(&raw.leading_digits, false)?,
        })
    }
}

impl Compiled {
    /// libphonenumber's `_match_national_number(number, general_desc, False)`: the pattern
    /// only, no length check.
    pub fn general_matches(&self, national: &str) -> bool {
        self.general.whole.is_match(national)
    }

    /// `_test_number_length` for an unknown type: against the general description's lengths.
    pub fn length(&self, national: &str) -> Length {
        let lengths = &self.general.lengths;
        let Ok(actual) = u8::try_from(national.len()) else { return Length::TooLong };
        if self.general_local.contains(&actual) {
            return Length::LocalOnly;
        }
        let (Some(&min), Some(&max)) = (lengths.first(), lengths.last()) else { return Length::Invalid };
        if actual == min {
            Length::Possible
        } else if actual < min {
            Length::TooShort
        } else if actual > max {
            Length::TooLong
        } else if lengths[1..].contains(&actual) {
            Length::Possible
        } else {
            Length::Invalid
        }
    }

    /// `_number_type_helper(...) != UNKNOWN`: the general description and one type match.
    pub fn has_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }

    /// The region's leading digits, when it has them, match the start of the number.
    pub fn leading_digits(&self, national: &str) -> Option<bool> {
        self.leading_digits.as_ref().map(|r| r.is_match(national))
    }
}

/// libphonenumber's `\d` means any decimal digit; the numbers matched here are ASCII already,
/// and `[0-9]` keeps the automata small.
fn ascii_digits(pattern: &str) -> String {
    pattern.replace("\\d", "[0-9]")
}

/// The pattern matched at the start (Python's `re.match`) or as a whole (`fullmatch`).
fn anchored(pattern: &str, whole: bool) -> Option<Regex> {
    let end = if whole { "$" } else { "" };
    Regex::new(&format!("^(?:{}){end}", ascii_digits(pattern))).ok()
}
