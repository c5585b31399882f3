//! The email the `smtp` kind sends for an action: its headers (a `Message-ID` made from the
//! idempotency key, so a resend after a crash is recognisably the same message; RFC 8058
//! one-click unsubscribe) and its parts (an `.html` template's page with a plain-text copy).

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use sha2::Digest;

use crate::runtime::Action;

/// What every message of a channel shares.
pub struct Letter {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub unsubscribe: Option<Unsubscribe>,
}

/// The one-click endpoint and the key its per-contact tokens are signed with.
pub struct Unsubscribe {
    /// Without a trailing `/`.
    pub base: String,
    pub secret: Vec<u8>,
}

impl Letter {
    /// The message for `action`; the error says which address or header is wrong.
    pub fn message(&self, action: &Action) -> Result<Message, String> {
        let from = self.sender(action)?;
        let to: Mailbox =
            action.to.parse().map_err(|e| format!("`{}` is not an email address ({e})", action.to.as_str()))?;
        let domain = from.email.domain().to_string();
        let mut builder = Message::builder().from(from).to(to).message_id(Some(message_id(&action.key, &domain)));
        if let Some(subject) = &action.subject {
            builder = builder.subject(subject.as_str());
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(unsubscribe) = &self.unsubscribe {
            let address = Some(action.to.as_str());
            let token =
                super::sign::unsubscribe_token_for(&unsubscribe.secret, &action.campaign, &action.contact, address);
            let url = format!("<{}/{token}>", unsubscribe.base);
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), url))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let built = if action.html {
            builder.multipart(MultiPart::alternative_plain_html(html_to_text(&action.text), action.text.to_string()))
        } else {
            builder.header(ContentType::TEXT_PLAIN).body(action.text.to_string())
        };
        built.map_err(|e| format!("cannot make the message: {e}"))
    }

    /// The step's `from` when it is an email address (a campaign-wide `from` may be a phone
    /// number meant for its SMS steps), else the channel's.
    fn sender(&self, action: &Action) -> Result<Mailbox, String> {
        match action.from.as_deref().filter(|f| f.contains('@')) {
            Some(from) => from.parse().map_err(|e| format!("`from` `{from}` is not an email address ({e})")),
            None => Ok(self.from.clone()),
        }
    }
}

/// `<hash@domain>`: the same key gives the same id on every try, and no two keys share one.
pub fn message_id(key: &str, domain: &str) -> String {
    let hash = sha2::Sha256::digest(key.as_bytes());
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

/// Elements whose content is not text a reader sees.
const HIDDEN: &[&str] = &["script", "style", "head", "title"];
/// Elements that start or end a line.
const BLOCKS: &[&str] = &[
    "br",
    "p",
    "div",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "hr",
    "section",
    "article",
    "header",
    "footer",
];

/// A plain-text copy of an HTML page, simply: tags dropped (a block ends a line, a link keeps
/// its address after its text), hidden content left out, entities decoded, whitespace folded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut hidden: Option<String> = None;
    let mut link: Option<(String, usize)> = None;
    while let Some(open) = rest.find('<') {
        if hidden.is_none() {
            push_text(&mut out, &rest[..open]);
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            rest = &rest[open..];
            break;
        };
        let tag = &after[..close];
        rest = &after[close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(inside) = &hidden {
            if closing && *inside == name {
                hidden = None;
            }
            continue;
        }
        if HIDDEN.contains(&name.as_str()) && !closing && !tag.ends_with('/') {
            hidden = Some(name);
        } else if BLOCKS.contains(&name.as_str()) {
            out.push('\n');
        } else if name == "a" && !closing {
            link = href(tag).map(|h| (h, out.len()));
        } else if name == "a"
            && let Some((url, start)) = link.take()
        {
            let shown = out[start..].trim();
            if !url.is_empty() && shown != url && !url.starts_with('#') {
                out.push_str(&format!(" ({url})"));
            }
        }
    }
    if hidden.is_none() {
        push_text(&mut out, rest);
    }
    tidy(&out)
}

/// Text between tags, its whitespace folded as a browser shows it, entities decoded.
fn push_text(out: &mut String, text: &str) {
    for c in decode_entities(text).chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(if c == '\u{a0}' { ' ' } else { c });
        }
    }
}

/// Lines trimmed, at most one empty line in a row, none at the ends.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// The `href` of an `<a …>` tag, entities decoded.
fn href(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find("href")?;
    let value = tag[at + 4..].trim_start().strip_prefix('=')?.trim_start();
    let (quote, body) = match value.chars().next()? {
        q @ ('"' | '\'') => (q, &value[1..]),
        _ => (' ', value),
    };
    let end = body.find(quote).unwrap_or(body.len());
    Some(decode_entities(&body[..end]).into_owned())
}

/// The named entities templates produce and numeric ones; anything else is left as written.
fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 10);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "euro" => '€',
        _ => return None,
    })
}

#[cfg(test)]
#[path = "mail_tests.rs"]
mod tests;
