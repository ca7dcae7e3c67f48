//! A strict, incremental, in-place decoder for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//!
//! httparse's `parse_chunk_size` accepts an empty size line and bare LF inside extensions, both
//! of which let a front proxy and a back server disagree about where a body ends (request
//! smuggling), so pollserve decodes chunks itself, one byte-state at a time.
//!
//! The decoder works **in place**: the decoded body is written over the encoded bytes, starting
//! at the front of the same buffer. Decoded data is never longer than the encoding it came from,
//! so the write cursor never passes the read cursor. When the body is complete it lies
//! contiguous right after the request head, exactly where a `Content-Length` body would be, and
//! the handler borrows it from the connection's read buffer with no copy into a second buffer.

/// Longest chunk extension (`;name=value…`) accepted on one size line. Extensions carry nothing
/// pollserve uses; the bound stops a client from streaming an endless size line.
pub const MAX_EXTENSION_BYTES: usize = 4096;

/// Most bytes of trailer fields accepted after the last chunk. Trailers are discarded; the bound
/// keeps them from being an unbounded upload of their own (same order as the header limit).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Why a chunked body was rejected. Every variant means the framing cannot be trusted, so the
/// connection answers 400 (or 413) and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// A size line without a single hex digit.
    EmptySize,
    /// A byte in the size that is neither a hex digit nor an allowed delimiter.
    BadSize,
    /// The size does not fit in 64 bits.
    SizeOverflow,
    /// A line ended by LF alone, or CR not followed by LF.
    BadLineEnding,
    /// An extension that breaks its grammar (RFC 9112 §7.1.1) or is longer than
    /// [`MAX_EXTENSION_BYTES`].
    BadExtension,
    /// A chunk's data was not followed by CRLF: it is longer than its size says.
    DataOverrun,
    /// A trailer line that is not `name: value`, or trailers longer than [`MAX_TRAILER_BYTES`].
    BadTrailer,
    /// The decoded body would exceed the configured maximum.
    TooLarge,
}

impl ChunkError {
    /// A short, static description for the error body.
    pub fn message(self) -> &'static str {
        match self {
            ChunkError::EmptySize => "chunk size line has no digits",
            ChunkError::BadSize => "invalid byte in chunk size",
            ChunkError::SizeOverflow => "chunk size overflows",
            ChunkError::BadLineEnding => "chunk line not ended by CRLF",
            ChunkError::BadExtension => "invalid or oversized chunk extension",
            ChunkError::DataOverrun => "chunk data longer than its size",
            ChunkError::BadTrailer => "invalid or oversized trailer",
            ChunkError::TooLarge => "request body too large",
        }
    }
}

/// What one call to [`ChunkedDecoder::decode`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The body ended. `consumed` encoded bytes were used; the body is `buf[..body_len]`.
    Done {
        /// Encoded bytes consumed, including the last chunk and trailers.
        consumed: usize,
        /// Decoded body length.
        body_len: usize,
    },
    /// More bytes are needed; call again with the same buffer, extended.
    NeedMore,
}

/// Where in the chunked grammar the next byte falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Reading hex digits of a chunk size; `digits` counted so far.
    Size { digits: u32 },
    /// Whitespace after the size: only `;` (an extension) may follow.
    SizeSpace,
    /// Inside the chunk extensions, at `at` in their grammar; `len` bytes of them so far.
    Extension { at: Ext, len: usize },
    /// Saw CR ending the size line; LF must follow.
    SizeLf,
    /// Copying chunk data; this many bytes left.
    Data { left: u64 },
    /// Data done; CR must follow.
    DataCr,
    /// Data done and CR seen; LF must follow.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerLineStart,
    /// Inside a trailer field's name.
    TrailerName,
    /// Inside a trailer field's value (after the colon).
    TrailerValue,
    /// Saw CR ending a trailer line; LF must follow.
    TrailerLf,
    /// Saw CR of the final empty line; LF must follow.
    FinalLf,
    /// The body is complete.
    Done,
}

/// Where in `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )` (RFC 9112 §7.1.1) the
/// next byte falls; `name` is a token, `value` a token or a quoted-string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// After `;` (and any whitespace): a name must start.
    NameStart,
    /// Inside a name.
    Name,
    /// Whitespace after a name: only `=` or `;` may follow.
    NameSpace,
    /// After `=` (and any whitespace): a value must start.
    ValueStart,
    /// Inside a token value.
    Token,
    /// Inside a quoted-string value.
    Quoted,
    /// After a backslash inside a quoted-string.
    QuotedPair,
    /// Right after a value: `;`, whitespace or the line end.
    ValueEnd,
    /// Whitespace after a value: only `;` may follow.
    ValueSpace,
}

/// `tchar` of RFC 9110 §5.6.2: the bytes a token (method, field name, extension name) is made of.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Incremental decoder state for one chunked body. Feed it the same buffer (grown as bytes
/// arrive) until it reports [`Progress::Done`].
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    step: Step,
    /// Offset of the next encoded byte to examine.
    read: usize,
    /// Decoded bytes so far, stored at `buf[..written]`. Invariant: `written <= read`.
    written: usize,
    /// Size of the chunk whose size line is being read.
    size: u64,
    /// Trailer bytes seen so far.
    trailer_len: usize,
    /// Largest decoded body accepted.
    max_body: u64,
}

impl ChunkedDecoder {
    /// A decoder for one body of at most `max_body` decoded bytes.
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            step: Step::Size { digits: 0 },
            read: 0,
            written: 0,
            size: 0,
            trailer_len: 0,
            max_body,
        }
    }

    /// Decoded body bytes so far.
    pub fn body_len(&self) -> usize {
        self.written
    }

    /// Whether [`ChunkedDecoder::reclaim`] would free any bytes.
    pub fn reclaimable(&self) -> bool {
        self.read > self.written
    }

    /// Gives back the encoded bytes already decoded: returns `(read, written)` before the
    /// call, and from now on expects the undecoded bytes at `written`. The caller moves
    /// `buf[read..]` to `buf[written..]`, so framing bytes stop occupying the buffer.
    pub fn reclaim(&mut self) -> (usize, usize) {
        let cursors = (self.read, self.written);
        self.read = self.written;
        cursors
    }

    /// Decodes as much of `buf` (the encoded body, from its first byte to the last byte
    /// received) as possible, writing decoded data to the front of `buf`.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<Progress, ChunkError> {
        while self.read < buf.len() {
            if let Step::Data { left } = self.step {
                self.copy_data(buf, left);
                continue;
            }
            let byte = buf[self.read];
            self.read += 1;
            self.step = self.next_step(byte)?;
            if self.step == Step::Done {
                return Ok(Progress::Done { consumed: self.read, body_len: self.written });
            }
        }
        Ok(Progress::NeedMore)
    }

    /// Moves up to `left` bytes of chunk data down to the decoded end.
    fn copy_data(&mut self, buf: &mut [u8], left: u64) {
        let available = buf.len() - self.read;
        let n = usize::try_from(left).map_or(available, |left| left.min(available));
        buf.copy_within(self.read..self.read + n, self.written);
        self.read += n;
        self.written += n;
        let left = left - n as u64;
        self.step = if left == 0 { Step::DataCr } else { Step::Data { left } };
    }

    /// The grammar: given the current step and one byte, the next step.
    fn next_step(&mut self, byte: u8) -> Result<Step, ChunkError> {
        Ok(match (self.step, byte) {
            // A size is one or more hex digits, overflow-checked.
            (Step::Size { digits }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ChunkError::SizeOverflow)?;
                Step::Size { digits: digits + 1 }
            }
            (Step::Size { digits: 0 }, _) => return Err(ChunkError::EmptySize),
            // After the digits: BWS then `;` starts an extension; CRLF ends the line.
            (Step::Size { .. } | Step::SizeSpace, b' ' | b'\t') => Step::SizeSpace,
            (Step::Size { .. } | Step::SizeSpace, b';') => Step::Extension { at: Ext::NameStart, len: 0 },
            (Step::Size { .. }, b'\r') => Step::SizeLf,
            (Step::Size { .. } | Step::Extension { .. } | Step::SizeSpace, b'\n') => {
                return Err(ChunkError::BadLineEnding);
            }
            (Step::Size { .. } | Step::SizeSpace, _) => return Err(ChunkError::BadSize),
            // Extensions follow their grammar and are skipped; their length is bounded.
            (Step::Extension { len, .. }, _) if len >= MAX_EXTENSION_BYTES => {
                return Err(ChunkError::BadExtension);
            }
            (Step::Extension { at, len }, _) => match next_ext(at, byte)? {
                Some(at) => Step::Extension { at, len: len + 1 },
                None => Step::SizeLf,
            },
            // End of the size line: a zero size starts the trailer section.
            (Step::SizeLf, b'\n') if self.size == 0 => Step::TrailerLineStart,
            (Step::SizeLf, b'\n') => {
                let total = (self.written as u64).checked_add(self.size);
                if total.is_none_or(|total| total > self.max_body) {
                    return Err(ChunkError::TooLarge);
                }
                let left = std::mem::take(&mut self.size);
                Step::Data { left }
            }
            (Step::SizeLf, _) => return Err(ChunkError::BadLineEnding),
            // Data must be followed by exactly CRLF.
            (Step::DataCr, b'\r') => Step::DataLf,
            (Step::DataCr, _) => return Err(ChunkError::DataOverrun),
            (Step::DataLf, b'\n') => Step::Size { digits: 0 },
            (Step::DataLf, _) => return Err(ChunkError::DataOverrun),
            // Trailers: field lines (`name: value`, no obs-fold) until an empty one, bounded,
            // discarded.
            (Step::TrailerLineStart, b'\r') => Step::FinalLf,
            (Step::TrailerLineStart | Step::TrailerName | Step::TrailerValue, b'\n') => {
                return Err(ChunkError::BadLineEnding);
            }
            (Step::TrailerValue, b'\r') => Step::TrailerLf,
            (Step::TrailerLineStart | Step::TrailerName | Step::TrailerValue, _) => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(ChunkError::BadTrailer);
                }
                match (self.step, byte) {
                    (Step::TrailerLineStart | Step::TrailerName, _) if is_tchar(byte) => Step::TrailerName,
                    (Step::TrailerName, b':') => Step::TrailerValue,
                    (Step::TrailerValue, _) if !byte.is_ascii_control() || byte == b'\t' => {
                        Step::TrailerValue
                    }
                    _ => return Err(ChunkError::BadTrailer),
                }
            }
            (Step::TrailerLf, b'\n') => Step::TrailerLineStart,
            (Step::FinalLf, b'\n') => Step::Done,
            (Step::TrailerLf | Step::FinalLf, _) => return Err(ChunkError::BadLineEnding),
            // Data is handled by `copy_data`, and `decode` stops at Done.
            (Step::Data { .. } | Step::Done, _) => self.step,
        })
    }
}

/// The chunk-extension grammar: given where we are and one byte, where we are next, or `None`
/// when the byte is the CR that ends the size line.
fn next_ext(at: Ext, byte: u8) -> Result<Option<Ext>, ChunkError> {
    let is_space = byte == b' ' || byte == b'\t';
    Ok(Some(match (at, byte) {
        // A line may end after a complete name or value, never inside a quoted-string.
        (Ext::Name | Ext::Token | Ext::ValueEnd, b'\r') => return Ok(None),
        // BWS: whitespace before a name, before or after `=`, and before `;`.
        (Ext::NameStart | Ext::NameSpace | Ext::ValueStart | Ext::ValueSpace, _) if is_space => at,
        (Ext::Name, _) if is_space => Ext::NameSpace,
        (Ext::Token | Ext::ValueEnd, _) if is_space => Ext::ValueSpace,
        // `;` starts the next extension after a name or a value.
        (Ext::Name | Ext::NameSpace | Ext::Token | Ext::ValueEnd | Ext::ValueSpace, b';') => Ext::NameStart,
        (Ext::NameStart | Ext::Name, _) if is_tchar(byte) => Ext::Name,
        (Ext::Name | Ext::NameSpace, b'=') => Ext::ValueStart,
        (Ext::ValueStart | Ext::Token, _) if is_tchar(byte) => Ext::Token,
        (Ext::ValueStart, b'"') => Ext::Quoted,
        // quoted-string: qdtext or a quoted-pair, up to the closing quote.
        (Ext::Quoted, b'"') => Ext::ValueEnd,
        (Ext::Quoted, b'\\') => Ext::QuotedPair,
        (Ext::Quoted | Ext::QuotedPair, _) if is_space || !byte.is_ascii_control() => Ext::Quoted,
        _ => return Err(ChunkError::BadExtension),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_whole(encoded: &[u8]) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut buf = encoded.to_vec();
        match ChunkedDecoder::new(1 << 20).decode(&mut buf)? {
            Progress::Done { consumed, body_len } => Ok((buf[..body_len].to_vec(), consumed)),
            Progress::NeedMore => panic!("incomplete: {:?}", String::from_utf8_lossy(encoded)),
        }
    }

    fn assert_rejects(encoded: &[u8], expected: ChunkError) {
        let mut buf = encoded.to_vec();
        let got = ChunkedDecoder::new(1 << 20).decode(&mut buf);
        assert_eq!(got, Err(expected), "{:?}", String::from_utf8_lossy(encoded));
    }

    #[test]
    fn decodes_valid_bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"005\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5;name=value\r\nhello\r\n0;x\r\n\r\n", b"hello"),
            (b"5 ;ext\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n0\r\nTrailer: yes\r\nOther: 1\r\n\r\n", b"hello"),
        ];
        for (encoded, body) in cases {
            let (decoded, consumed) = decode_whole(encoded).unwrap();
            assert_eq!(&decoded, body, "{:?}", String::from_utf8_lossy(encoded));
            assert_eq!(consumed, encoded.len());
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let (body, consumed) = decode_whole(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n").unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(consumed, 13);
    }

    #[test]
    fn rejects_malformed_framing() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"\r\n", ChunkError::EmptySize),
            (b";ext\r\n", ChunkError::EmptySize),
            (b"5\nhello\r\n", ChunkError::BadLineEnding),
            (b"5;a\nb\r\nhello\r\n", ChunkError::BadLineEnding),
            (b"5\rxhello", ChunkError::BadLineEnding),
            (b"g\r\n", ChunkError::EmptySize),
            (b"5g\r\n", ChunkError::BadSize),
            (b"-5\r\n", ChunkError::EmptySize),
            (b"0x5\r\n", ChunkError::BadSize),
            (b"5 \r\n", ChunkError::BadSize),
            (b"10000000000000000\r\n", ChunkError::SizeOverflow),
            (b"3\r\nhello\r\n", ChunkError::DataOverrun),
            (b"5\r\nhello\n0\r\n\r\n", ChunkError::DataOverrun),
            (b"5;a\0b\r\n", ChunkError::BadExtension),
            (b"0\r\nX: 1\n\r\n", ChunkError::BadLineEnding),
            (b"0\r\n\n", ChunkError::BadLineEnding),
            (b"0\r\nX: \x00\r\n\r\n", ChunkError::BadTrailer),
        ];
        for (encoded, expected) in cases {
            assert_rejects(encoded, *expected);
        }
    }

    #[test]
    fn extensions_follow_their_grammar() {
        let valid: &[&[u8]] = &[
            b"1;a\r\nx\r\n0\r\n\r\n",
            b"1;a=b\r\nx\r\n0\r\n\r\n",
            b"1 ; a = b ; c\r\nx\r\n0\r\n\r\n",
            b"1;a=\"\"\r\nx\r\n0\r\n\r\n",
            b"1;a=\"b; \\\"c\\\\\";d=e\r\nx\r\n0\r\n\r\n",
            b"1;a=\"\x80\xff\"\r\nx\r\n0\r\n\r\n",
            b"1;\ta\t=\tb\t;c\r\nx\r\n0\r\n\r\n",
        ];
        for encoded in valid {
            assert_eq!(decode_whole(encoded).unwrap().0, b"x", "{:?}", String::from_utf8_lossy(encoded));
        }
        let invalid: &[(&[u8], ChunkError)] = &[
            (b"2;\r\n", ChunkError::BadExtension),
            (b"2;;a\r\n", ChunkError::BadExtension),
            (b"2;=b\r\n", ChunkError::BadExtension),
            (b"2;a=\r\n", ChunkError::BadExtension),
            (b"2;a b\r\n", ChunkError::BadExtension),
            (b"2;a \r\n", ChunkError::BadExtension),
            (b"2;a=b c\r\n", ChunkError::BadExtension),
            (b"2;a=b=c\r\n", ChunkError::BadExtension),
            (b"2;a(b)\r\n", ChunkError::BadExtension),
            (b"5;a=\"abc\";b=\"def; ghi\r\n", ChunkError::BadExtension),
            (b"5;a=\"abc\"d\r\n", ChunkError::BadExtension),
            (b"5;a=\"a\x7f\"\r\n", ChunkError::BadExtension),
            (b"5;a=\"a\\\x00\"\r\n", ChunkError::BadExtension),
            (b"5;a=\"a\nb\"\r\n", ChunkError::BadLineEnding),
            (b"5;a\n", ChunkError::BadLineEnding),
        ];
        for (encoded, expected) in invalid {
            assert_rejects(encoded, *expected);
        }
    }

    #[test]
    fn trailers_are_field_lines() {
        assert_eq!(decode_whole(b"0\r\nA-b: c d\r\nE:\r\n\r\n").unwrap().0, b"");
        for encoded in
            [&b"0\r\n X: 1\r\n\r\n"[..], b"0\r\nX : 1\r\n\r\n", b"0\r\n: 1\r\n\r\n", b"0\r\nX\r\n\r\n"]
        {
            assert_rejects(encoded, ChunkError::BadTrailer);
        }
    }

    #[test]
    fn bounds_extensions_trailers_and_body_size() {
        let mut long_ext = b"1;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'x', MAX_EXTENSION_BYTES + 1));
        assert_eq!(ChunkedDecoder::new(10).decode(&mut long_ext), Err(ChunkError::BadExtension));

        let mut long_trailer = b"0\r\n".to_vec();
        long_trailer.extend(std::iter::repeat_n(b'x', MAX_TRAILER_BYTES + 1));
        assert_eq!(ChunkedDecoder::new(10).decode(&mut long_trailer), Err(ChunkError::BadTrailer));

        let mut big = b"6\r\nabcdef\r\n".to_vec();
        assert_eq!(ChunkedDecoder::new(5).decode(&mut big), Err(ChunkError::TooLarge));
        let mut split = b"3\r\nabc\r\n3\r\ndef\r\n".to_vec();
        assert_eq!(ChunkedDecoder::new(5).decode(&mut split), Err(ChunkError::TooLarge));
    }

    #[test]
    fn reclaiming_framing_bytes_keeps_decoding_correct() {
        let encoded = b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new(100);
        let mut buf = encoded[..14].to_vec();
        assert_eq!(decoder.decode(&mut buf), Ok(Progress::NeedMore));
        let (from, to) = decoder.reclaim();
        buf.copy_within(from.., to);
        buf.truncate(buf.len() - (from - to));
        buf.extend_from_slice(&encoded[14..]);
        let Ok(Progress::Done { body_len, .. }) = decoder.decode(&mut buf) else { panic!() };
        assert_eq!(&buf[..body_len], b"abc");
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let encoded = b"5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nT: v\r\n\r\n";
        let whole = decode_whole(encoded).unwrap();
        for cut in 0..encoded.len() {
            let mut decoder = ChunkedDecoder::new(1 << 20);
            let mut buf = encoded[..cut].to_vec();
            assert_eq!(decoder.decode(&mut buf), Ok(Progress::NeedMore));
            buf.extend_from_slice(&encoded[cut..]);
            let Ok(Progress::Done { consumed, body_len }) = decoder.decode(&mut buf) else {
                panic!("cut at {cut} did not finish");
            };
            assert_eq!((buf[..body_len].to_vec(), consumed), whole, "cut at {cut}");
        }
    }
}
