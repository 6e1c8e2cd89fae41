//! Test-only: /proc-like texts for the parsers' property tests.

use proptest::prelude::*;

/// Up to `max - 1` lines drawn from `line`, joined by `\n` or `\r\n` (one ending for the whole
/// text, as a file has), with or without a final line ending.
pub(crate) fn lines_text(
    line: impl Strategy<Value = String>,
    max: usize,
) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line, 0..max),
        "(\n|\r\n)",
        any::<bool>(),
    )
        .prop_map(|(lines, end, last)| {
            let mut text = lines.join(&end);
            if last {
                text.push_str(&end);
            }
            text
        })
}
