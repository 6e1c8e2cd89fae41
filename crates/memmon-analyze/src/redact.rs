//! What `memmon report` masks in the logs, bundles and `report.md` it writes for a public issue
//! tracker (issue #20: "never include the rest of client_config.json (server address), host
//! names or addresses unless asked"):
//!
//! - names given to it, as whole words, any case (this machine's host name; the host names,
//!   e-mail addresses and addresses the client's own config names: [`config_names`]): `*`;
//! - the host (and any `user:password@`) of a URL in the text (`scheme://host…`): `*`;
//! - IPv6 addresses (full or `::`-compressed, with an embedded IPv4 tail; brackets, a zone and a
//!   port stay) and IPv4 addresses: their digits become `x`.
//!
//! Every mask replaces byte for byte (ASCII for ASCII, a whole name for a whole name), so a
//! masked copy is exactly as long as the original (the copies are sized to fit GitHub's 25 MB)
//! and stays valid UTF-8. What a memmon log is made of is left alone: timestamps (`14:30:00`,
//! `[2026-12-05 14:30:00]`), `file.py:123` locations, sizes and versions (`v1.2.3.4.5`).

/// Masks names and addresses in text; see the module's documentation.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The names to mask, longest first (a longer name containing a shorter one is masked whole).
    names: Vec<Vec<u8>>,
}

/// Bytes that continue a word: a name or an address next to one of these is part of something
/// longer (`pi-gate-30`, `v1.2.3.4`) and left alone.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl Redactor {
    /// A redactor for `names` (names shorter than 2 bytes are ignored: they would mask letters).
    pub fn new<I: IntoIterator<Item = String>>(names: I) -> Redactor {
        let mut names: Vec<Vec<u8>> = names
            .into_iter()
            .map(|n| n.trim().as_bytes().to_vec())
            .filter(|n| n.len() >= 2)
            .collect();
        names.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Redactor { names }
    }

    /// Masks `text` in place; returns how many names and addresses were masked.
    pub fn mask(&self, text: &mut [u8]) -> u64 {
        let mut n = 0;
        for name in &self.names {
            n += mask_name(text, name);
        }
        n + mask_urls(text) + mask_ipv6(text) + mask_ipv4(text)
    }
}

/// Replaces each byte of `range` that is not `*` already with `*`; whether any was.
fn star(text: &mut [u8], range: std::ops::Range<usize>) -> bool {
    let mut changed = false;
    for b in &mut text[range] {
        if *b != b'*' {
            *b = b'*';
            changed = true;
        }
    }
    changed
}

/// `name` wherever it stands as a word, any ASCII case.
fn mask_name(text: &mut [u8], name: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i + name.len() <= text.len() {
        // A name starts a word: only positions after a non-word byte are compared.
        if (i > 0 && is_word(text[i - 1])) || !text[i].eq_ignore_ascii_case(&name[0]) {
            i += 1;
            continue;
        }
        let end = i + name.len();
        if text[i..end].eq_ignore_ascii_case(name) && !text.get(end).is_some_and(|&b| is_word(b)) {
            n += u64::from(star(text, i..end));
            i = end;
        } else {
            i += 1;
        }
    }
    n
}

/// The host (and `user:password@`) of every `scheme://…`: kept are the scheme, the port and
/// the path, which say what was reached without saying where.
fn mask_urls(text: &mut [u8]) -> u64 {
    // What an authority may hold; `'`, `(`, `)` and `,` are left out because in prose they
    // end a URL more often than they belong to one.
    let authority = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&*+;=:@[]".contains(&b);
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = find(&text[from..], b"://").map(|p| p + from) {
        from = at + 3;
        // A scheme: a letter, then letters, digits, `+`, `-` or `.`.
        let mut s = at;
        while s > 0 && (text[s - 1].is_ascii_alphanumeric() || b"+-.".contains(&text[s - 1])) {
            s -= 1;
        }
        if s == at || !text[s].is_ascii_alphabetic() {
            continue;
        }
        let start = at + 3;
        let mut end = start;
        while end < text.len() && authority(text[end]) {
            end += 1;
        }
        let mut host = start;
        let mut changed = false;
        if let Some(userinfo) = text[start..end].iter().rposition(|&b| b == b'@') {
            changed |= star(text, start..start + userinfo);
            host = start + userinfo + 1;
        }
        let host_end = if text.get(host) == Some(&b'[') {
            // `[v6]:port`: the inside of the brackets.
            match text[host..end].iter().position(|&b| b == b']') {
                Some(close) => {
                    host += 1;
                    host + close - 1
                }
                None => end,
            }
        } else {
            let colon = text[host..end].iter().position(|&b| b == b':');
            let mut e = colon.map_or(end, |c| host + c);
            // A sentence's full stop after `http://host.` is not the host's.
            while e > host && text[e - 1] == b'.' {
                e -= 1;
            }
            e
        };
        changed |= star(text, host..host_end);
        n += u64::from(changed);
        from = end.max(from);
    }
    n
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// IPv6 addresses: runs of hex digits, colons and dots of a plausible address's shape
/// ([`plausible_ipv6`]), not inside a longer word; their hex digits become `x`.
fn mask_ipv6(text: &mut [u8]) -> u64 {
    let part = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
    let mut n = 0;
    let mut i = 0;
    while i < text.len() {
        if !part(text[i]) || text[i] == b'.' {
            i += 1;
            continue;
        }
        let run_end = (i..text.len())
            .find(|&j| !part(text[j]))
            .unwrap_or(text.len());
        let (mut s, mut e) = (i, run_end);
        i = run_end;
        if s > 0 && is_word(text[s - 1]) {
            // `host:fe80::1`: one colon after a word separates; anything else is mid-word
            // (`deadbeef` inside `0xdeadbeef…`, `Foo::bar`).
            if text[s] == b':' && text.get(s + 1) != Some(&b':') {
                s += 1;
            } else {
                continue;
            }
        }
        // A sentence's full stop, or `fe80::1: refused`'s colon, is not the address's.
        while e > s && text[e - 1] == b'.' {
            e -= 1;
        }
        if e - s >= 2 && text[e - 1] == b':' && text[e - 2] != b':' {
            e -= 1;
        }
        // Followed by a letter (`dead::beefy`): a word, not an address.
        if text
            .get(run_end)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
        {
            continue;
        }
        if plausible_ipv6(&text[s..e]) {
            text[s..e]
                .iter_mut()
                .filter(|b| b.is_ascii_hexdigit())
                .for_each(|b| *b = b'x');
            n += 1;
        }
    }
    n
}

/// An IPv6 address's shape: 8 groups of 1-4 hex digits, or fewer around one `::` (at least
/// two groups then: `::1` and `fe80::` name no machine), the last two groups possibly an IPv4
/// address; and a digit somewhere, so that `abc::def` or `add::beef` is not one. A time
/// (`14:30:00`: three groups, no `::`) or a location (`file.py:12`) never has this shape.
fn plausible_ipv6(s: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(s) else {
        return false;
    };
    if s.matches(':').count() < 2 || s.contains(":::") {
        return false;
    }
    let compressed = match s.matches("::").count() {
        0 => false,
        1 => true,
        _ => return false,
    };
    // A single colon at either end is no address (`::` is, at either end).
    if (s.starts_with(':') && !s.starts_with("::")) || (s.ends_with(':') && !s.ends_with("::")) {
        return false;
    }
    let groups: Vec<&str> = s.split(':').collect();
    let last = groups.len() - 1;
    let (mut count, mut digit) = (0, false);
    for (k, g) in groups.iter().enumerate() {
        if g.is_empty() {
            continue;
        }
        if g.contains('.') {
            if k != last || !is_ipv4(g) {
                return false;
            }
            count += 2;
            digit = true;
            continue;
        }
        if g.len() > 4 || !g.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        digit |= g.bytes().any(|b| b.is_ascii_digit());
        count += 1;
    }
    let shape = if compressed {
        (2..=7).contains(&count)
    } else {
        count == 8
    };
    shape && digit
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v < 256)
        })
}

/// IPv4 addresses: four groups of 1-3 digits joined by dots, not part of a longer number or
/// word (`v1.2.3.4`, `1.2.3.4.5`); their digits become `x`.
fn mask_ipv4(text: &mut [u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i < text.len() {
        let before = i.checked_sub(1).map(|j| text[j]);
        if !text[i].is_ascii_digit() || before.is_some_and(|b| is_word(b) || b == b'.') {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut groups = 0;
        loop {
            let start = j;
            while j < text.len() && text[j].is_ascii_digit() && j - start < 4 {
                j += 1;
            }
            let len = j - start;
            if len == 0 || len > 3 {
                groups = 0;
                break;
            }
            groups += 1;
            if groups == 4 || j >= text.len() || text[j] != b'.' {
                break;
            }
            j += 1;
        }
        let after = text.get(j).copied();
        // Not followed by a word, nor by `.` and a digit (a fifth group: a version).
        let fifth = after == Some(b'.') && text.get(j + 1).is_some_and(u8::is_ascii_digit);
        if groups == 4 && !after.is_some_and(is_word) && !fifth {
            text[i..j]
                .iter_mut()
                .filter(|b| b.is_ascii_digit())
                .for_each(|b| *b = b'x');
            n += 1;
            i = j;
        } else {
            // Past this run of digits and dots.
            while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'.') {
                i += 1;
            }
        }
    }
    n
}

/// File name extensions that make `name.ext` a file rather than a host (`main.py`, `app.log`).
const FILE_EXTENSIONS: [&str; 30] = [
    "py", "pyc", "log", "json", "toml", "txt", "csv", "cfg", "ini", "conf", "yaml", "yml", "sh",
    "md", "html", "xml", "js", "png", "jpg", "wav", "mp3", "gz", "tgz", "zip", "so", "db",
    "sqlite", "pem", "crt", "key",
];

/// Key words that say a value names a host, an address or a secret even when it does not look
/// like one (`"host": "attendance"`, `"api_key": "…"`).
const HOST_KEYS: [&str; 16] = [
    "host", "server", "addr", "url", "uri", "domain", "mail", "endpoint", "broker", "proxy",
    "gateway", "password", "passwd", "secret", "token", "apikey",
];

/// `a.b.example`: dot-separated labels of letters, digits and `-`, the last one letters only
/// and not a file extension.
fn looks_like_host(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    let label = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(label)
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !FILE_EXTENSIONS.iter().any(|e| tld.eq_ignore_ascii_case(e))
}

/// The host of `scheme://[user@]host[:port]/…`.
fn url_host(s: &str) -> Option<&str> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// The names to mask from the client's config values outside `memory_monitor`, as
/// `memmon_config::other_strings` gives them (`(key path, value)`): the host of a URL, a host
/// name (with its port left off), an e-mail address and its domain, an address, and any one-word
/// value with a letter under a key that names a host, an address or a secret (`server`, `host`,
/// `api_key`; its port left off).
pub fn config_names(values: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in values {
        let v = value.trim();
        if let Some(host) = url_host(v) {
            out.push(host.to_owned());
            continue;
        }
        if let Some((local, domain)) = v.split_once('@') {
            if !local.is_empty() && !local.contains(char::is_whitespace) && looks_like_host(domain)
            {
                out.push(v.to_owned());
                out.push(domain.to_owned());
                continue;
            }
        }
        // `host:port` (an IPv6 address has colons of its own, and a port only in brackets).
        let bare = match v.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                h.trim_start_matches('[').trim_end_matches(']')
            }
            _ => v,
        };
        if is_ipv4(bare) || plausible_ipv6(bare.as_bytes()) || looks_like_host(bare) {
            out.push(bare.to_owned());
            continue;
        }
        if plausible_ipv6(v.as_bytes()) {
            out.push(v.to_owned());
            continue;
        }
        let words = key.to_ascii_lowercase().replace(['-', '.'], "_");
        let hosty = words.split('_').any(|w| w == "ip")
            || HOST_KEYS.iter().any(|k| words.replace('_', "").contains(k));
        // With a letter: a number under such a key (`"server_port": "8443"`) would mask the
        // same figure everywhere in the logs, and names no host.
        let one_word =
            !bare.contains(char::is_whitespace) && bare.bytes().any(|b| b.is_ascii_alphabetic());
        if hosty && one_word {
            out.push(bare.to_owned());
        }
    }
    out
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
