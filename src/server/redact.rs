//! What `--trace` must not print: credentials. [`mask`] overwrites, in a copy of the bytes
//! about to be traced, the values of credential header fields and of JSON string fields named
//! `password` or `token` with `*`. Masking keeps the length, so a window of buffered bytes can be
//! masked whole and only its newest part printed: a field whose name arrived in an earlier read
//! still has its value masked.

/// Header fields whose values are credentials (compared case-insensitively).
const SECRET_HEADERS: [&[u8]; 4] = [b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"];

/// JSON object keys whose string values are credentials (exact, as the API names them).
const SECRET_JSON_KEYS: [&[u8]; 2] = [b"\"password\"", b"\"token\""];

/// The byte secrets are replaced with.
const MASK: u8 = b'*';

/// Masks every credential in `bytes` in place.
pub fn mask(bytes: &mut [u8]) {
    mask_header_values(bytes);
    for key in SECRET_JSON_KEYS {
        mask_json_strings(bytes, key);
    }
}

/// Lines `name: value` whose name is a credential field: the value, to the end of its line.
fn mask_header_values(bytes: &mut [u8]) {
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = memchr::memchr(b'\n', &bytes[line_start..]).map_or(bytes.len(), |i| line_start + i);
        let line = &bytes[line_start..line_end];
        if let Some(colon) = memchr::memchr(b':', line)
            && SECRET_HEADERS.iter().any(|name| line[..colon].eq_ignore_ascii_case(name))
        {
            let value_end = if line.ends_with(b"\r") { line_end - 1 } else { line_end };
            let value_start = line_start + colon + 1;
            let leading_space = bytes[value_start..value_end].iter().take_while(|b| **b == b' ').count();
            bytes[value_start + leading_space..value_end].fill(MASK);
        }
        line_start = line_end + 1;
    }
}

/// `"key" : "value"`: the value's characters, up to its closing quote (or the end of `bytes`).
fn mask_json_strings(bytes: &mut [u8], key: &[u8]) {
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&bytes[from..], key) {
        let mut at = from + found + key.len();
        from = at;
        at += count_whitespace(&bytes[at..]);
        if bytes.get(at) != Some(&b':') {
            continue;
        }
        at += 1;
        at += count_whitespace(&bytes[at..]);
        if bytes.get(at) != Some(&b'"') {
            continue;
        }
        at += 1;
        let mut escaped = false;
        while at < bytes.len() && (escaped || bytes[at] != b'"') {
            escaped = !escaped && bytes[at] == b'\\';
            bytes[at] = MASK;
            at += 1;
        }
        from = at;
    }
}

fn count_whitespace(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(input: &str) -> String {
        let mut bytes = input.as_bytes().to_vec();
        mask(&mut bytes);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn credential_headers_are_masked_to_the_end_of_their_line() {
        assert_eq!(
            masked("GET / HTTP/1.1\r\nAuthorization: Bearer abc\r\nHost: x\r\nCOOKIE:s=1\r\n\r\n"),
            "GET / HTTP/1.1\r\nAuthorization: **********\r\nHost: x\r\nCOOKIE:***\r\n\r\n"
        );
        assert_eq!(masked("Proxy-Authorization: Basic xyz"), "Proxy-Authorization: *********");
        assert_eq!(masked("Set-Cookie: id=1\r\n"), "Set-Cookie: ****\r\n");
        assert_eq!(masked("X-Authorization-Hint: keep\r\n"), "X-Authorization-Hint: keep\r\n");
    }

    #[test]
    fn password_and_token_json_strings_are_masked() {
        assert_eq!(
            masked(r#"{"username":"ann","password" : "s3cr\"et","token":"t0k"}"#),
            r#"{"username":"ann","password" : "********","token":"***"}"#
        );
        assert_eq!(masked(r#"{"password":"cut off"#), r#"{"password":"*******"#);
        assert_eq!(masked(r#"{"password":12,"title":"password"}"#), r#"{"password":12,"title":"password"}"#);
    }

    #[test]
    fn masking_keeps_the_length() {
        let input = "POST /api/login HTTP/1.1\r\nAuthorization: x\r\n\r\n{\"password\":\"pw\"}";
        assert_eq!(masked(input).len(), input.len());
    }
}
