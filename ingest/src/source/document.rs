//! JSON documents read as a stream: a JSON array of events, or a (pretty) `EventList` whose
//! `items` are events, is cut into its elements as the bytes arrive, so a document of any size
//! is read in memory bounded by its largest element. Any other object (one pretty-printed event,
//! a cloud export's `records` object) is one element. Several documents one after another are
//! read one after another.

/// One element of a document, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub bytes: Vec<u8>,
    /// Offset of its first byte in the decompressed input.
    pub offset: u64,
    /// Offset of the byte after it.
    pub end: u64,
    /// 1-based line of its first byte.
    pub line: u64,
    /// `eventlist` for `items` of an object, `array` for a top-level array, `event` for a whole
    /// object.
    pub format: &'static str,
    /// The input ended before the element did.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level array: its values are elements.
    Array,
    /// Inside a top-level object, before an `items` array: the object may be one element.
    Object,
    /// Inside the `items` array of a top-level object.
    Items,
    /// After the `items` array, until the object closes: skipped.
    AfterItems,
}

/// Cuts a byte stream into elements; feed it blocks, then call [`Splitter::finish`].
pub struct Splitter {
    mode: Mode,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Offset and line of the next byte.
    offset: u64,
    line: u64,
    /// The element being collected (or, in `Object` mode, the whole object so far).
    current: Vec<u8>,
    current_start: Option<(u64, u64)>,
    /// A string at depth 1 of an object (a key candidate) and the last key seen there.
    string: Vec<u8>,
    key: Vec<u8>,
    /// Largest element kept whole; a larger one is cut to this size and marked truncated.
    limit: usize,
    over_limit: bool,
}

impl Splitter {
    pub fn new(offset: u64, line: u64, limit: usize) -> Self {
        Splitter {
            mode: Mode::Top,
            depth: 0,
            in_string: false,
            escape: false,
            offset,
            line,
            current: Vec::new(),
            current_start: None,
            string: Vec::new(),
            key: Vec::new(),
            limit,
            over_limit: false,
        }
    }

    /// Whether every document so far was read to its end.
    pub fn complete(&self) -> bool {
        self.mode == Mode::Top && self.depth == 0 && !self.in_string && self.current_start.is_none()
    }

    fn depth_of_elements(&self) -> usize {
        match self.mode {
            Mode::Array => 1,
            Mode::Items => 2,
            _ => 0,
        }
    }

    fn start(&mut self) {
        self.current.clear();
        self.over_limit = false;
        self.current_start = Some((self.offset, self.line));
    }

    fn keep(&mut self, b: u8) {
        if self.current_start.is_none() {
            return;
        }
        if self.current.len() < self.limit {
            self.current.push(b);
        } else {
            self.over_limit = true;
        }
    }

    /// Emit the element under way; `through` says whether the byte being read now is its last.
    fn emit(
        &mut self,
        format: &'static str,
        truncated: bool,
        through: bool,
        out: &mut Vec<Element>,
    ) {
        if let Some((offset, line)) = self.current_start.take() {
            out.push(Element {
                bytes: std::mem::take(&mut self.current),
                offset,
                end: self.offset + u64::from(through),
                line,
                format,
                truncated: truncated || self.over_limit,
            });
        }
    }

    fn format(&self) -> &'static str {
        match self.mode {
            Mode::Items => "eventlist",
            Mode::Array => "array",
            _ => "event",
        }
    }

    /// Feed bytes; complete elements are appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Element>) {
        for &b in bytes {
            self.byte(b, out);
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
            }
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<Element>) {
        let elem_depth = self.depth_of_elements();
        // Start of an element: the first byte of a value directly inside the container.
        if self.current_start.is_none()
            && !self.in_string
            && elem_depth > 0
            && self.depth == elem_depth
            && !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}')
        {
            self.start();
        }
        if self.mode == Mode::Top && !self.in_string {
            if matches!(b, b'[' | b'{') && self.current_start.is_some() {
                // Bytes between documents that were not a document.
                self.emit("event", false, false, out);
            }
            match b {
                b'[' => {
                    self.mode = Mode::Array;
                    self.depth = 1;
                    return;
                }
                b'{' => {
                    self.mode = Mode::Object;
                    self.depth = 1;
                    self.key.clear();
                    self.start();
                    self.keep(b);
                    return;
                }
                b' ' | b'\t' | b'\r' | b'\n' => return,
                _ => {
                    // Something that is not a document: kept as one element to be quarantined.
                    if self.current_start.is_none() {
                        self.start();
                    }
                    self.keep(b);
                    return;
                }
            }
        }
        self.keep(b);
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
            } else if self.depth == 1 && self.mode == Mode::Object {
                self.string.push(b);
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.mode == Mode::Object {
                    self.string.clear();
                }
            }
            b':' if self.depth == 1 && self.mode == Mode::Object => {
                self.key = std::mem::take(&mut self.string);
            }
            b'[' | b'{' => {
                if b == b'[' && self.depth == 1 && self.mode == Mode::Object && self.key == b"items"
                {
                    // An EventList: its header is not needed; its items are the elements.
                    self.current.clear();
                    self.current_start = None;
                    self.mode = Mode::Items;
                }
                self.depth += 1;
            }
            b']' | b'}' => {
                self.depth = self.depth.saturating_sub(1);
                match self.mode {
                    Mode::Array | Mode::Items if self.depth + 1 == elem_depth => {
                        // The container closed; an unfinished scalar element ends here.
                        if self.current_start.is_some() {
                            self.current.pop();
                            let format = self.format();
                            self.emit(format, false, false, out);
                        }
                        self.mode = if self.mode == Mode::Items {
                            Mode::AfterItems
                        } else {
                            Mode::Top
                        };
                        if self.mode == Mode::Top {
                            self.depth = 0;
                        }
                    }
                    Mode::Array | Mode::Items if self.depth == elem_depth => {
                        let format = self.format();
                        self.emit(format, false, true, out);
                    }
                    Mode::Object if self.depth == 0 => {
                        self.emit("event", false, true, out);
                        self.mode = Mode::Top;
                    }
                    Mode::AfterItems if self.depth == 0 => self.mode = Mode::Top,
                    _ => {}
                }
            }
            b',' if matches!(self.mode, Mode::Array | Mode::Items)
                && self.depth == elem_depth
                && self.current_start.is_some() =>
            {
                // A scalar element ends at the comma.
                self.current.pop();
                let format = self.format();
                self.emit(format, false, false, out);
            }
            _ => {}
        }
    }

    /// The input ended: whatever element was under way is emitted as truncated; a document cut
    /// off between elements (`[` alone, or after a comma) yields an empty truncated element, so
    /// that the cut is recorded.
    pub fn finish(&mut self, out: &mut Vec<Element>) {
        let format = self.format();
        let unfinished = self.depth > 0 || self.in_string;
        if self.current_start.is_some() {
            self.emit(format, unfinished, false, out);
        } else if unfinished && self.mode != Mode::AfterItems {
            out.push(Element {
                bytes: Vec::new(),
                offset: self.offset,
                end: self.offset,
                line: self.line,
                format,
                truncated: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(String, &'static str, bool)> {
        let mut s = Splitter::new(0, 1, 1 << 20);
        let mut out = Vec::new();
        for piece in text.as_bytes().chunks(3) {
            s.feed(piece, &mut out);
        }
        s.finish(&mut out);
        out.into_iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.bytes).into_owned(),
                    e.format,
                    e.truncated,
                )
            })
            .collect()
    }

    #[test]
    fn arrays_and_event_lists_are_cut_into_their_items() {
        assert_eq!(
            split("[{\"a\":[1,{\"b\":\"]}\"}]},\n {\"c\":2}]"),
            [
                ("{\"a\":[1,{\"b\":\"]}\"}]}".to_string(), "array", false),
                ("{\"c\":2}".to_string(), "array", false)
            ]
        );
        let list = "{\n \"kind\": \"EventList\",\n \"metadata\": {\"items\": 1},\n \"items\": [\n  {\"x\": 1},\n  {\"y\": {\"items\": [2]}}\n ]\n}";
        assert_eq!(
            split(list),
            [
                ("{\"x\": 1}".to_string(), "eventlist", false),
                ("{\"y\": {\"items\": [2]}}".to_string(), "eventlist", false)
            ]
        );
    }

    #[test]
    fn an_object_without_items_is_one_element_and_documents_may_follow_each_other() {
        assert_eq!(
            split("{\n \"kind\": \"Event\"\n}\n{\"items\":[{\"z\":1}]}"),
            [
                ("{\n \"kind\": \"Event\"\n}".to_string(), "event", false),
                ("{\"z\":1}".to_string(), "eventlist", false)
            ]
        );
    }

    #[test]
    fn a_cut_off_document_ends_with_a_truncated_element() {
        assert_eq!(
            split("[{\"a\":1},{\"b\":"),
            [
                ("{\"a\":1}".to_string(), "array", false),
                ("{\"b\":".to_string(), "array", true)
            ]
        );
        assert_eq!(split("["), [(String::new(), "array", true)]);
    }

    #[test]
    fn elements_know_their_line_and_offset() {
        let mut s = Splitter::new(0, 1, 1 << 20);
        let mut out = Vec::new();
        s.feed(b"[\n {\"a\":1},\n {\"b\":2}\n]", &mut out);
        let at: Vec<(u64, u64)> = out.iter().map(|e| (e.offset, e.line)).collect();
        assert_eq!(at, [(3, 2), (13, 3)]);
    }
}
