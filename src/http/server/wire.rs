//! HTTP/1.1 on the wire: reading one request (headers, Content-Length or chunked body,
//! `Expect: 100-continue`) and writing one response. Limits are enforced while reading.

use std::io::{self, BufRead, Read, Write};

use super::{Request, Response};

/// The longest request line or header line, and all headers together.
const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 64 * 1024;

#[derive(Debug)]
pub enum WireError {
    /// The peer sent something that is not HTTP/1.x; answer 400 and close.
    Bad(String),
    /// The body is larger than allowed; answer 413 and close.
    TooLarge(usize),
    /// The connection failed or timed out; just close.
    Io(io::Error),
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// One request as read, and whether the connection may be reused after the answer.
pub struct Incoming {
    pub request: Request,
    pub keep_alive: bool,
}

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<Option<String>, WireError> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take((MAX_LINE + 1) as u64)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE || n > *budget {
        return Err(WireError::Bad("request line or header too long".into()));
    }
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| WireError::Bad("request head is not UTF-8".into()))
}

/// Read the next request. `Ok(None)`: the peer closed the connection between requests.
/// `interim` receives the `100 Continue` answer when the client asks for it.
pub fn read_request(
    r: &mut impl BufRead,
    interim: &mut impl Write,
    max_body: usize,
) -> Result<Option<Incoming>, WireError> {
    let mut budget = MAX_HEADERS;
    // Tolerate empty lines before a request (RFC 9112 2.2).
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(WireError::Bad(format!("malformed request line {line:?}")));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(WireError::Bad(format!("unsupported protocol {version:?}"))),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(WireError::Bad(format!("malformed method {method:?}")));
    }
    let mut headers = Vec::new();
    loop {
        let Some(h) = read_line(r, &mut budget)? else {
            return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
        };
        if h.is_empty() {
            break;
        }
        let Some((k, v)) = h.split_once(':') else {
            return Err(WireError::Bad(format!("malformed header line {h:?}")));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let connection = header("Connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let encodings = all("Transfer-Encoding");
    let lengths = all("Content-Length");
    // RFC 9112 6.1 / 6.3: a request with both framings may be smuggling one past a proxy: it
    // is refused and the connection closed; a transfer coding other than a final "chunked"
    // cannot be framed; differing lengths cannot either.
    if !encodings.is_empty() && !lengths.is_empty() {
        return Err(WireError::Bad(
            "request has both Transfer-Encoding and Content-Length".into(),
        ));
    }
    let chunked = match encodings.as_slice() {
        [] => false,
        list => {
            let codings = list.join(",").to_ascii_lowercase();
            let last = codings.rsplit(',').next().unwrap_or("").trim();
            if last != "chunked" {
                return Err(WireError::Bad(format!(
                    "Transfer-Encoding {codings:?} does not end in chunked"
                )));
            }
            true
        }
    };
    let mut length = None;
    for v in lengths.iter().flat_map(|v| v.split(',')).map(str::trim) {
        let n = v
            .parse::<usize>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| WireError::Bad(format!("bad Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(WireError::Bad(
                "request has differing Content-Lengths".into(),
            ));
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if !chunked && length > max_body {
        return Err(WireError::TooLarge(max_body));
    }
    if header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        && (chunked || length > 0)
    {
        interim.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        interim.flush()?;
    }
    let body = if chunked {
        read_chunked(r, max_body)?
    } else {
        let mut body = vec![0; length];
        r.read_exact(&mut body)?;
        body
    };
    let (raw_path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q.to_string()),
        None => (target, String::new()),
    };
    Ok(Some(Incoming {
        request: Request {
            method: method.to_ascii_uppercase(),
            path: super::percent_decode(raw_path),
            raw_path: raw_path.to_string(),
            query,
            headers,
            body,
            remote: None,
        },
        keep_alive,
    }))
}

fn read_chunked(r: &mut impl BufRead, max_body: usize) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    let mut budget = MAX_HEADERS;
    loop {
        let Some(size_line) = read_line(r, &mut budget)? else {
            return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
        };
        let hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| WireError::Bad(format!("bad chunk size {hex:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            while read_line(r, &mut budget)?.is_some_and(|l| !l.is_empty()) {}
            return Ok(body);
        }
        if body.len() + size > max_body {
            return Err(WireError::TooLarge(max_body));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(WireError::Bad("chunk not followed by CRLF".into()));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The status line and the handler's headers, without the framing ones (`Content-Length`,
/// `Connection`, `Transfer-Encoding`: the server sets those) and without any that would
/// split the head.
fn status_and_headers(resp: &Response, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status)).as_bytes(),
    );
    for (k, v) in &resp.headers {
        let bad = |s: &str| s.contains(['\r', '\n']);
        if bad(k)
            || bad(v)
            || k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("connection")
            || k.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
}

/// The head of a streamed response: no length, the body runs until the connection closes.
pub fn encode_stream_head(resp: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    status_and_headers(resp, &mut out);
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// The response bytes: status line, headers, Content-Length, Connection, body (none for HEAD).
pub fn encode(resp: &Response, keep_alive: bool, head: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(resp.body.len() + 256);
    status_and_headers(resp, &mut out);
    out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    if !head {
        out.extend_from_slice(&resp.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &[u8], max: usize) -> (Result<Option<Incoming>, WireError>, Vec<u8>) {
        let mut interim = Vec::new();
        let mut r = io::BufReader::new(raw);
        (read_request(&mut r, &mut interim, max), interim)
    }

    #[test]
    fn content_length_body_and_keep_alive() {
        let (r, interim) = read(
            b"POST /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET",
            100,
        );
        let inc = r.expect("ok").expect("a request");
        assert_eq!(inc.request.method, "POST");
        assert_eq!(inc.request.path, "/a b");
        assert_eq!(inc.request.raw_path, "/a%20b");
        assert_eq!(inc.request.query, "x=1");
        assert_eq!(inc.request.body, b"body");
        assert!(inc.keep_alive);
        assert!(interim.is_empty());
    }

    #[test]
    fn chunked_body_expect_continue_and_close() {
        let raw = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
        let (r, interim) = read(raw, 100);
        let inc = r.expect("ok").expect("a request");
        assert_eq!(inc.request.body, b"abcde");
        assert!(!inc.keep_alive);
        assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn limits_and_malformed_input() {
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 10).0,
            Err(WireError::TooLarge(10))
        ));
        assert!(matches!(
            read(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n",
                10
            )
            .0,
            Err(WireError::TooLarge(_))
        ));
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"G3T / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        ] {
            assert!(
                matches!(read(bad, 10).0, Err(WireError::Bad(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
        assert!(matches!(
            read(long.as_bytes(), 10).0,
            Err(WireError::Bad(_))
        ));
        assert!(matches!(read(b"", 10).0, Ok(None)));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nHost", 10).0,
            Err(WireError::Io(_))
        ));
        assert!(
            !read(b"GET / HTTP/1.0\r\n\r\n", 10)
                .0
                .expect("ok")
                .expect("req")
                .keep_alive
        );
    }

    fn request(raw: &[u8]) -> Request {
        read(raw, 100).0.expect("ok").expect("a request").request
    }

    /// Requests one after the other on one connection: each body's framing leaves the reader
    /// at the next request; an empty line before a request is ignored (RFC 9112 2.2); the
    /// peer closing between requests is no error.
    #[test]
    fn keep_alive_reads_requests_one_after_the_other() {
        let raw = b"POST /one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
                    PUT /two HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n\
                    \r\nGET /three HTTP/1.1\r\n\r\n";
        let mut r = io::BufReader::new(&raw[..]);
        let mut interim = Vec::new();
        let mut next = || {
            read_request(&mut r, &mut interim, 100)
                .expect("ok")
                .map(|i| (i.request.method, i.request.path, i.request.body))
        };
        assert_eq!(
            next(),
            Some(("POST".into(), "/one".into(), b"abc".to_vec()))
        );
        assert_eq!(next(), Some(("PUT".into(), "/two".into(), b"de".to_vec())));
        assert_eq!(next(), Some(("GET".into(), "/three".into(), Vec::new())));
        assert_eq!(next(), None);
    }

    /// Fields keep their order and repeats; a value loses the whitespace around it; a bare LF
    /// ends a line as CRLF does (RFC 9112 2.2, 5.1).
    #[test]
    fn fields_in_order_trimmed_and_bare_lf_accepted() {
        let r = request(b"GET /p HTTP/1.1\nHost:  h \r\nX-A:\tone\t\nx-a: two\n\n");
        let pairs: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("Host", "h"), ("X-A", "one"), ("x-a", "two")]);
        assert_eq!(r.header("X-a"), Some("one"));
    }

    /// Keep-alive: HTTP/1.1 unless `close` is among the Connection options, HTTP/1.0 only
    /// with `keep-alive` (RFC 9112 9.3).
    #[test]
    fn connection_options_decide_keep_alive() {
        for (raw, keep) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], true),
            (
                b"GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", false),
        ] {
            let inc = read(raw, 10).0.expect("ok").expect("a request");
            assert_eq!(inc.keep_alive, keep, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// `100 Continue` only when a body is coming and fits: a body too large is refused
    /// before the client sends it.
    #[test]
    fn continue_only_for_a_body_that_fits() {
        let (r, interim) = read(
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
            10,
        );
        assert!(r.expect("ok").is_some());
        assert!(interim.is_empty());
        let (r, interim) = read(
            b"POST / HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
            10,
        );
        assert!(matches!(r, Err(WireError::TooLarge(10))));
        assert!(interim.is_empty());
    }

    /// Repeated identical Content-Lengths are one length (RFC 9112 6.3 item 5).
    #[test]
    fn identical_content_lengths_are_one() {
        for raw in [
            &b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
        ] {
            assert_eq!(request(raw).body, b"abc");
        }
    }

    /// The path is percent-decoded (invalid UTF-8 becomes U+FFFD), the raw path and the
    /// query are kept as sent.
    #[test]
    fn target_split_and_decoded() {
        let r = request(b"GET /a%2Fb/%C3%A9%FF/%zz?q=a+b%26c&d HTTP/1.1\r\n\r\n");
        assert_eq!(r.path, "/a/b/\u{e9}\u{fffd}/%zz");
        assert_eq!(r.raw_path, "/a%2Fb/%C3%A9%FF/%zz");
        assert_eq!(r.query, "q=a+b%26c&d");
        assert_eq!(
            r.query_pairs(),
            [
                ("q".to_string(), "a b&c".to_string()),
                ("d".into(), "".into())
            ]
        );
    }

    /// More malformed requests, each answered 400; a peer gone in the middle of a request is
    /// a failed connection, not a bad request.
    #[test]
    fn more_malformed_input() {
        for bad in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcde\r\n0\r\n\r\n",
        ] {
            assert!(
                matches!(read(bad, 10).0, Err(WireError::Bad(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for cut in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(read(cut, 10).0, Err(WireError::Io(_))),
                "{:?}",
                String::from_utf8_lossy(cut)
            );
        }
    }

    /// All the fields together are bounded too, not only each line.
    #[test]
    fn the_whole_head_is_bounded() {
        let field = format!("X-F: {}\r\n", "v".repeat(1000));
        let fit = MAX_HEADERS / field.len() - 1;
        let raw = format!("GET / HTTP/1.1\r\n{}\r\n", field.repeat(fit));
        assert_eq!(request(raw.as_bytes()).headers.len(), fit);
        let raw = format!("GET / HTTP/1.1\r\n{}\r\n", field.repeat(fit + 2));
        assert!(matches!(read(raw.as_bytes(), 10).0, Err(WireError::Bad(_))));
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let r = Response::text(404, "nope").with_header("X-Evil", "a\r\nInjected: 1");
        let text = String::from_utf8(encode(&r, true, false)).expect("utf8");
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(
            text.contains("Content-Length: 4\r\n")
                && text.contains("Connection: keep-alive\r\n\r\nnope")
        );
        assert!(!text.contains("Injected"));
        let head = String::from_utf8(encode(&r, false, true)).expect("utf8");
        assert!(head.ends_with("Connection: close\r\n\r\n"));
    }
}
