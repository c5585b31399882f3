use super::*;

fn us() -> Option<Region> {
    Region::parse("US")
}

macro_rules! normalises {
    ($($region:literal $text:literal => $expected:literal;)*) => {$(
        assert_eq!(normalise($text, Region::parse($region)).as_deref(), Ok($expected), "{} in {}", $text, $region);
    )*};
}

macro_rules! rejects {
    ($($region:literal $text:literal => $error:expr;)*) => {$(
        assert_eq!(normalise($text, Region::parse($region)), Err($error), "{} in {}", $text, $region);
    )*};
}

#[test]
fn every_region_compiles() {
    let broken: Vec<&str> = METADATA.all().filter(|r| r.compiled().is_none()).map(|r| r.id.as_str()).collect();
    assert!(broken.is_empty(), "regions whose patterns do not compile: {broken:?}");
    assert!(METADATA.all().count() > 240);
}

#[test]
fn international_numbers_keep_their_country() {
    normalises! {
        "US" "+4917612345678" => "+4917612345678";
        "US" "+4916012345678" => "+4916012345678";
        "US" "+5511912345804" => "+5511912345804";
        "US" "+8613812345678" => "+8613812345678";
        "US" "0049 176 12345678" => "+4917612345678";
        "US" "011 49 176 12345678" => "+4917612345678";
        "DE" "0049 176 12345678" => "+4917612345678";
        "GB" "+44 (0)7911 123456" => "+447911123456";
        "US" "++14155550102" => "+14155550102";
        "US" "＋１ ４１５ ５５５ ０１０２" => "+14155550102";
    }
}

#[test]
fn national_numbers_are_read_in_the_region() {
    normalises! {
        "US" "(415) 555-0102" => "+14155550102";
        "US" "1-415-555-0102" => "+14155550102";
        "us" "415.555.0102" => "+14155550102";
        "GB" "07911 123456" => "+447911123456";
        "FR" "06 12 34 56 78" => "+33612345678";
        "RU" "8 (912) 345-67-89" => "+79123456789";
    }
}

#[test]
fn what_is_not_a_number_says_why() {
    rejects! {
        "US" "1-800-FLOWERS" => PhoneError::Character('F');
        "US" "415 555 0102 x12" => PhoneError::Character('x');
        "DE" "030 123456 ~ 7" => PhoneError::Character('~');
        "AT" "01 234567890～1" => PhoneError::Character('～');
        "US" "12" => PhoneError::Invalid("US".into());
        "US" "+1" => PhoneError::NotANumber;
        "US" "+0 123456789" => PhoneError::CountryCode;
        "US" "555-0102" => PhoneError::Invalid("US".into());
        "US" "1+415" => PhoneError::NotANumber;
        "US" "" => PhoneError::NotANumber;
        "XX" "4155550102" => PhoneError::NoRegion;
    }
    assert_eq!(normalise(&"1".repeat(300), us()), Err(PhoneError::TooLong));
}

#[test]
fn regions_parse_by_code() {
    assert_eq!(Region::parse(" gb ").map(Region::code), Some("GB"));
    assert_eq!(Region::parse("001"), None);
    assert_eq!(Region::parse("EU"), None);
    assert!(!metadata_version().is_empty());
}
