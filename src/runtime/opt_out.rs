//! Which replies opt a contact out, as people actually type them: `STOP.`, `Stop!`,
//! `"STOP"`, `opt-out`, `OPTOUT`, `ＳＴＯＰ`, `Stop 🛑`, `stop please`.
//!
//! The rule (docs/language.md, "Opt-out replies"): the reply is put in Unicode NFKC form;
//! invisible characters (zero-width spaces and joiners, word joiners, the BOM, soft hyphens,
//! direction marks) are removed; every other character that is not a letter or a digit
//! (punctuation, quotes, symbols, emoji) separates words; words are upper-cased; the
//! politeness words in [`FILLERS`] are dropped. The reply opts out when what is left is one of
//! [`PHRASES`], its words separated by single spaces.

use unicode_normalization::UnicodeNormalization;

/// The opt-out keywords and phrases, after normalisation.
pub const PHRASES: &[&str] =
    &["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT"];

/// Words around a keyword that do not change what it means.
pub const FILLERS: &[&str] = &["PLEASE", "PLS", "PLZ", "NOW", "THANKS", "THANK", "YOU", "THX"];

/// The normalised ASCII text fits here: a longer one is no phrase.
const BUFFER: usize = 16;

// Every phrase fits the ASCII path's buffer.
const _: () = {
    let mut i = 0;
    while i < PHRASES.len() {
        assert!(PHRASES[i].len() <= BUFFER, "an opt-out phrase is longer than is_opt_out's buffer");
        i += 1;
    }
};

/// Whether the reply opts the contact out.
pub fn is_opt_out(text: &str) -> bool {
    if text.is_ascii() { ascii(text.as_bytes()) } else { unicode(text) }
}

/// Every reply is checked: ASCII text (already NFKC) is normalised on the stack.
fn ascii(text: &[u8]) -> bool {
    let mut normal = [0u8; BUFFER];
    let mut len = 0;
    for word in text.split(|b| !b.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if FILLERS.iter().any(|f| f.as_bytes().eq_ignore_ascii_case(word)) {
            continue;
        }
        let start = len + usize::from(len > 0);
        if start + word.len() > BUFFER {
            return false;
        }
        if len > 0 {
            normal[len] = b' ';
        }
        normal[start..start + word.len()].copy_from_slice(word);
        normal[start..start + word.len()].make_ascii_uppercase();
        len = start + word.len();
    }
    PHRASES.iter().any(|phrase| phrase.as_bytes() == &normal[..len])
}

fn unicode(text: &str) -> bool {
    let cleaned: String =
        text.nfkc().filter(|c| !is_invisible(*c)).map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let upper = cleaned.to_uppercase();
    let words: Vec<&str> = upper.split_whitespace().filter(|w| !FILLERS.contains(w)).collect();
    PHRASES.contains(&words.join(" ").as_str())
}

/// Characters that show nothing: a reply copied from somewhere often carries them.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::is_opt_out;

    macro_rules! replies {
        ($($text:expr => $opts_out:expr;)*) => {$(
            assert_eq!(is_opt_out($text), $opts_out, "{:?}", $text);
        )*};
    }

    #[test]
    fn keywords_however_they_are_typed() {
        replies! {
            "STOP" => true;
            "stop" => true;
            " Stop\n" => true;
            "STOP." => true;
            "Stop!" => true;
            "\"STOP\"" => true;
            "'stop'" => true;
            "OPTOUT" => true;
            "opt-out" => true;
            "Opt Out" => true;
            "OPT\t  OUT" => true;
            "Opt\u{0B}out" => true;
            "ＳＴＯＰ" => true;
            "Stop\u{200b}" => true;
            "\u{feff}STOP" => true;
            "Stop 🛑" => true;
            "🛑 STOP 🛑" => true;
            "stop please" => true;
            "Please stop!" => true;
            "STOP NOW" => true;
            "stop, thank you" => true;
            "stopall" => true;
            "Stop all" => true;
            "unsubscribe " => true;
            "Unsubscribe." => true;
            "end" => true;
            "QUIT" => true;
            "revoke" => true;
            "cancel" => true;
            "ſtop" => true;
            "quıt" => true;
            "STOP\u{3000}" => true;
            "opt\u{a0}out" => true;
            "S\u{0301}TOP" => false;
        }
    }

    #[test]
    fn other_replies_are_not_opt_outs() {
        replies! {
            "" => false;
            "   " => false;
            "🛑" => false;
            "STOPP" => false;
            "STO" => false;
            "stop by tomorrow" => false;
            "don't stop" => false;
            "please stop sending me these messages" => false;
            "unsubscribe  unsubscribe" => false;
            "opt  out  out" => false;
            "cancel my appointment" => false;
            "end of the day works" => false;
            "Ünsubscribe" => false;
            "yes" => false;
            "please" => false;
        }
    }

    #[test]
    fn ascii_and_unicode_paths_agree() {
        for text in ["STOP.", "opt-out", "stop please", "STOP NOW!!", "stop by", "Quit, thanks", "end end", "x"] {
            let padded = format!("{text}\u{200b}");
            assert_eq!(is_opt_out(text), is_opt_out(&padded), "{text:?}");
        }
    }
}
