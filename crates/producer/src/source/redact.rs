//! Keeping secrets out of logs, errors, health messages and dead-letter reasons.
//!
//! [`stockfeed_spec::secret::Secret`] already redacts itself, but secrets also travel inside other
//! strings: Finnhub and Alpha Vantage take the key as a query parameter, so any URL may carry
//! it, and Alpha Vantage echoes the key back in some error bodies ("We have detected your API
//! key as ..."). Everything derived from a URL or a provider's text passes through here before
//! it is logged or stored.

use stockfeed_spec::secret::Secret;

/// `scheme://host[:port]/path` without query or fragment, which is where keys travel.
pub fn without_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

/// Replaces every occurrence of each secret with `<redacted>`, and shortens provider text to
/// a length that fits a log line and a metric-free health message.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = text.to_owned();
    for s in secrets {
        let value = s.expose();
        if !value.is_empty() {
            out = out.replace(value, "<redacted>");
        }
    }
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_query_and_secret() {
        assert_eq!(
            without_query("wss://ws.finnhub.io/?token=abc#x"),
            "wss://ws.finnhub.io/"
        );
        assert_eq!(without_query("http://h/p"), "http://h/p");
        let key = Secret::new("KEY123");
        assert_eq!(
            scrub("your API key as KEY123 and KEY123", &[&key]),
            "your API key as <redacted> and <redacted>"
        );
    }
}
