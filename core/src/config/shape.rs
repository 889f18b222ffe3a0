//! Every shape error of a config file, not only the first: the TOML
//! deserializer stops at the first wrong type, so each error found is
//! noted (line, key, plain words) and its key line taken out of a copy of
//! the text, and the copy read again, until it reads or no line can be
//! taken out. Errors caused only by taking lines out (a missing field,
//! a syntax error inside a multi-line value) are not reported.

use std::ops::Range;

use super::ConfigError;

/// Most shape errors reported at once.
const MAX: usize = 50;

/// Every shape error in `text` (empty when it deserializes into `T`),
/// and the text with their lines blanked when that then reads (so the
/// rest of the file can be checked too).
pub(super) fn errors<T: serde::de::DeserializeOwned>(
    text: &str,
) -> (Vec<ConfigError>, Option<String>) {
    let mut copy = text.to_owned();
    let mut out: Vec<ConfigError> = Vec::new();
    let mut removed = 0;
    let mut reads = false;
    while out.len() < MAX {
        let e = match toml::from_str::<T>(&copy) {
            Ok(_) => {
                reads = true;
                break;
            }
            Err(e) => e,
        };
        let message = e.message().trim().to_owned();
        let syntax = e.span().is_none() || removed > 0 && is_syntax(&message);
        if removed > 0 && (syntax || message.starts_with("missing field")) {
            break;
        }
        let Some(span) = e.span() else {
            out.push(error(None, String::new(), message));
            break;
        };
        let (line_no, line) = line_of(&copy, span.clone());
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned())
            .filter(|k| !k.is_empty() && !k.starts_with('['))
            .unwrap_or_default();
        let message = plain(&message);
        // The line as numbered in the original text: lines are blanked,
        // never removed, so numbers stay.
        out.push(error(Some(line_no), key.clone(), message));
        if syntax || key.is_empty() || !blank_line(&mut copy, span) {
            break;
        }
        removed += 1;
    }
    (out, reads.then_some(copy))
}

fn error(line: Option<usize>, key: String, message: String) -> ConfigError {
    ConfigError { line, key, message }
}

fn is_syntax(message: &str) -> bool {
    !(message.starts_with("invalid") || message.starts_with("unknown field"))
}

/// The 1-based number and the text of the line holding `span`'s start.
fn line_of(text: &str, span: Range<usize>) -> (usize, &str) {
    let start = span.start.min(text.len());
    let begin = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let number = text[..start].bytes().filter(|&b| b == b'\n').count() + 1;
    (number, &text[begin..end])
}

/// Turns the line holding `span` into a comment of the same length (so
/// spans and line numbers of the rest stay); false when it is not a
/// `key = value` line on its own.
fn blank_line(text: &mut String, span: Range<usize>) -> bool {
    let start = span.start.min(text.len());
    let begin = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if !text[begin..end].contains('=') || text[begin..end].trim_start().starts_with('[') {
        return false;
    }
    let blank: String = std::iter::once('#')
        .chain(std::iter::repeat_n(' ', end - begin - 1))
        .collect();
    text.replace_range(begin..end, &blank);
    true
}

/// The deserializer's words for types, in an operator's.
fn plain(message: &str) -> String {
    let mut m = message.to_owned();
    for (rust, words) in [
        ("expected usize", "expected a positive whole number"),
        ("expected u64", "expected a positive whole number"),
        ("expected u32", "expected a positive whole number"),
        ("expected u16", "expected a positive whole number"),
        ("expected u8", "expected a positive whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list [ ... ]"),
        ("expected a string", "expected a string in quotes"),
        ("invalid type: ", ""),
        ("invalid value: ", ""),
    ] {
        m = m.replace(rust, words);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_error_is_reported_with_its_key_and_line_in_plain_words() {
        let text = "listen = \"127.0.0.1:8080\"\nworkers = -1\n[timeouts]\nclient_header = \"ten\"\n[limits]\nmax_connections = true\n[[upstream]]\nname = \"app\"\nservers = [{ addr = \"127.0.0.1:9001\", weight = \"heavy\" }]\n";
        let got: Vec<String> = errors::<super::super::RawConfig>(text)
            .0
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "line 2: workers: integer `-1`, expected a positive whole number",
                "line 4: client_header: string \"ten\", expected a positive whole number",
                "line 6: max_connections: boolean `true`, expected a positive whole number",
                "line 9: servers: string \"heavy\", expected a positive whole number",
            ]
        );
    }
}
