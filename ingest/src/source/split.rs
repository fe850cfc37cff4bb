//! Where the items of a JSON array, or one member of a JSON object, begin and end, found by
//! following strings and brackets only. A webhook `EventList` line holds hundreds of events;
//! when the parser refuses the line because one of them is broken, cutting its `items` apart
//! this way lets each event be parsed (and the broken one rejected) on its own, instead of the
//! whole batch going to quarantine.
//!
//! Nothing here validates a value: the parse of each item does. Whatever the cutter finds odd
//! (an unterminated string, brackets that do not match, nesting past [`MAX_DEPTH`], a missing
//! comma, a duplicate key) gives `None`, and the caller rejects the whole text with the
//! parser's error, which names its line and column.
//!
//! Not a faster parser: tried as the first pass over every long `EventList` line (so that the
//! line was parsed once, not once for the list and once per event), it cost more than
//! serde_json's own skipping (10% of ingest's samples against 4%), so it runs only on lines the
//! parser has refused.

use std::ops::Range;

/// Deeper nesting than serde_json's own recursion limit is left to serde_json to refuse.
pub const MAX_DEPTH: u32 = 128;

/// The items of the JSON array `text` (leading and trailing whitespace allowed), each the
/// exact text of one value.
pub fn array_items(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut items = Vec::new();
    if b.get(i) == Some(&b']') {
        return only_ws_after(b, i + 1).then_some(items);
    }
    loop {
        let end = value_end(b, i)?;
        items.push(text.get(i..end)?);
        i = skip_ws(b, end);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b']' => return only_ws_after(b, i + 1).then_some(items),
            _ => return None,
        }
    }
}

/// The byte range of the value of the member `key` of the JSON object `text`, when the object
/// has that key exactly once (its name written without escapes) and is well formed as far as
/// strings and brackets go.
pub fn member(text: &str, key: &str) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut found = None;
    if b.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let name_end = string_end(b, i)?;
        let name = &b[i + 1..name_end - 1];
        i = skip_ws(b, name_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(b, start)?;
        if name == key.as_bytes() {
            if found.is_some() {
                return None;
            }
            found = Some(start..end);
        }
        i = skip_ws(b, end);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return found.filter(|_| only_ws_after(b, i + 1)),
            _ => return None,
        }
    }
}

/// End (exclusive) of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => container_end(b, i),
        b',' | b'}' | b']' | b':' => None,
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - i);
            Some(i + len)
        }
    }
}

/// End (exclusive) of the string whose opening quote is at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut at = i + 1;
    loop {
        at += memchr::memchr2(b'"', b'\\', b.get(at..)?)?;
        if b[at] == b'"' {
            return Some(at + 1);
        }
        at += 2;
    }
}

/// End (exclusive) of the object or array opening at `i`: brackets matched by kind, strings
/// skipped whole.
fn container_end(b: &[u8], i: usize) -> Option<usize> {
    // One bit per open bracket, innermost lowest: 1 for an object, 0 for an array.
    let mut open: u128 = 0;
    let mut depth = 0u32;
    let mut at = i;
    loop {
        match *b.get(at)? {
            b'"' => {
                at = string_end(b, at)?;
                continue;
            }
            c @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                open = (open << 1) | u128::from(c == b'{');
                depth += 1;
            }
            c @ (b'}' | b']') => {
                if (open & 1 == 1) != (c == b'}') {
                    return None;
                }
                open >>= 1;
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

fn only_ws_after(b: &[u8], i: usize) -> bool {
    skip_ws(b, i) == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_is_cut_into_the_exact_text_of_each_item() {
        let text = r#" [ {"a":"x,]}\"y","b":[1,{"c":null}]} , 7,"s\\" ,{}, [] ] "#;
        assert_eq!(
            array_items(text).expect("cut"),
            [
                r#"{"a":"x,]}\"y","b":[1,{"c":null}]}"#,
                "7",
                r#""s\\""#,
                "{}",
                "[]"
            ]
        );
        assert_eq!(array_items("[]"), Some(vec![]));
        assert_eq!(array_items(" [ ]\n"), Some(vec![]));
    }

    #[test]
    fn what_the_cutter_cannot_follow_is_left_to_the_parser() {
        for odd in [
            r#"[{"a":1}"#,              // unclosed
            r#"[{"a":1]]"#,             // an object closed by ']'
            r#"[{"a":"1}]"#,            // unterminated string
            r#"[{"a":1} {"b":2}]"#,     // no comma
            r#"[{"a":1},]"#,            // a comma and no item
            r#"[{"a":1}] x"#,           // text after the array
            r#"{"a":1}"#,               // not an array
            "[\"ends in a backslash\\", // the escape runs off the end
        ] {
            assert_eq!(array_items(odd), None, "{odd}");
        }
        // Nesting inside an item is counted from the item.
        let deep = format!("[{}{}]", "[".repeat(129), "]".repeat(129));
        assert_eq!(array_items(&deep), None);
        let deep_enough = format!("[{}{}]", "[".repeat(128), "]".repeat(128));
        assert_eq!(array_items(&deep_enough).map(|v| v.len()), Some(1));
    }

    #[test]
    fn a_member_is_found_by_its_exact_name_once() {
        let text =
            r#"{"kind":"EventList","metadata":{"items":1},"items" : [{"a":"}"}] ,"x":"items"}"#;
        let r = member(text, "items").expect("items");
        assert_eq!(&text[r], r#"[{"a":"}"}]"#);
        assert_eq!(member(text, "missing"), None);
        assert_eq!(member(r#"{"items":[],"items":[]}"#, "items"), None);
        assert_eq!(member(r#"{"items":[1}"#, "items"), None);
        assert_eq!(member(r#"{"items":[1]} trailing"#, "items"), None);
        assert_eq!(member(r#"{"items" [1]}"#, "items"), None);
        assert_eq!(member(r#"{}"#, "items"), None);
        assert_eq!(&text[member(text, "kind").expect("kind")], r#""EventList""#);
    }
}
