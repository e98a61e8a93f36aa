//! HTTP/1.1 on the wire: reading one request (the head parsed by `httparse`, a Content-Length
//! or chunked body, `Expect: 100-continue`) and writing one response. Limits are enforced while
//! reading, before anything is parsed or allocated for the body.

use std::io::{self, BufRead, Read, Write};

use httparse::Status;

use super::{Request, Response};

/// The longest line of a head (the request line, a field line, a chunk size line), and all the
/// head's lines together (all chunk size and trailer lines together, likewise).
const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 64 * 1024;

/// Each kind of line, and the status that refuses it when too long.
const REQUEST_LINE: (&str, u16) = ("request line", 414);
const FIELD_LINE: (&str, u16) = ("header field", 431);
const CHUNK_LINE: (&str, u16) = ("chunk size line", 400);

#[derive(Debug)]
pub enum WireError {
    /// The request cannot be served: answer this status (400 not HTTP/1.x or framed
    /// ambiguously, 413 body too large, 414 request line too long, 431 fields too large, 501 a
    /// transfer coding other than chunked) with this reason, and close.
    Refused(u16, String),
    /// The connection failed, timed out or ended inside a request; just close.
    Io(io::Error),
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

fn bad(why: impl Into<String>) -> WireError {
    WireError::Refused(400, why.into())
}

fn cut_short() -> WireError {
    WireError::Io(io::ErrorKind::UnexpectedEof.into())
}

/// One request as read, and whether the connection may be reused after the answer.
pub struct Incoming {
    pub request: Request,
    pub keep_alive: bool,
}

/// Append one line, LF included, to `buf`: at most `MAX_LINE` bytes and what is left of
/// `budget`, else refused with the line kind's status. Returns its length, 0 at the end.
fn read_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    budget: &mut usize,
    (what, status): (&str, u16),
) -> Result<usize, WireError> {
    let limit = MAX_LINE.min(*budget);
    let n = r.take(limit as u64 + 1).read_until(b'\n', buf)?;
    if n > limit {
        let why =
            format!("{what} too long (at most {MAX_LINE} bytes a line, {MAX_HEADERS} in all)");
        return Err(WireError::Refused(status, why));
    }
    *budget -= n;
    if n > 0 && buf.last() != Some(&b'\n') {
        return Err(cut_short());
    }
    Ok(n)
}

fn is_blank(line: &[u8]) -> bool {
    matches!(line, b"\n" | b"\r\n")
}

/// Append field lines to `buf` up to and including the empty line that ends them, and give
/// `httparse` a slot for each line.
fn read_fields<'a>(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    budget: &mut usize,
) -> Result<Vec<httparse::Header<'a>>, WireError> {
    loop {
        let start = buf.len();
        if read_line(r, buf, budget, FIELD_LINE)? == 0 {
            return Err(cut_short());
        }
        if is_blank(&buf[start..]) {
            return Ok(vec![
                httparse::EMPTY_HEADER;
                buf.iter().filter(|&&b| b == b'\n').count()
            ]);
        }
    }
}

/// What `httparse` made of a head or a trailer section (`what`).
fn parsed<T>(result: httparse::Result<T>, what: &str) -> Result<(), WireError> {
    match result {
        Ok(Status::Complete(_)) => Ok(()),
        Ok(Status::Partial) => Err(bad(format!("incomplete {what}"))),
        Err(e) => Err(bad(format!("malformed {what}: {e}"))),
    }
}

/// The elements of a list-valued field over all its lines (RFC 9110 5.3, 5.6.1), trimmed.
fn elements<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
}

/// Read the next request. `Ok(None)`: the peer closed the connection between requests.
/// `interim` receives the `100 Continue` answer when the client asks for it.
pub fn read_request(
    r: &mut impl BufRead,
    interim: &mut impl Write,
    max_body: usize,
) -> Result<Option<Incoming>, WireError> {
    let mut head = Vec::with_capacity(1024);
    let mut budget = MAX_HEADERS;
    // Empty lines before the request line are skipped (RFC 9112 2.2).
    while head.is_empty() || is_blank(&head) {
        head.clear();
        if read_line(r, &mut head, &mut budget, REQUEST_LINE)? == 0 {
            return Ok(None);
        }
    }
    let mut slots = read_fields(r, &mut head, &mut budget)?;
    let mut req = httparse::Request::new(&mut slots);
    parsed(req.parse(&head), "request head")?;
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(bad("incomplete request line"));
    };
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad(format!("malformed method {method:?}")));
    }
    let headers = req
        .headers
        .iter()
        .map(|h| match std::str::from_utf8(h.value) {
            Ok(v) => Ok((h.name.to_string(), v.to_string())),
            Err(_) => Err(bad(format!("header {} is not UTF-8", h.name))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let option = |o: &str| elements(&headers, "Connection").any(|c| c.eq_ignore_ascii_case(o));
    let keep_alive = if minor == 0 {
        option("keep-alive")
    } else {
        !option("close")
    };
    let framing = framing(&headers, minor, max_body)?;
    let (chunked, length) = match framing {
        Framing::Chunked => (true, 0),
        Framing::Length(n) => (false, n),
    };
    if elements(&headers, "Expect").any(|e| e.eq_ignore_ascii_case("100-continue"))
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
    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(Incoming {
        request: Request {
            method: method.to_ascii_uppercase(),
            path: super::percent_decode(raw_path),
            raw_path: raw_path.to_string(),
            query: query.to_string(),
            headers,
            body,
            remote: None,
        },
        keep_alive,
    }))
}

/// How a request's body is delimited.
enum Framing {
    Chunked,
    /// `Content-Length` (0 without one).
    Length(usize),
}

/// The body's framing. RFC 9112 6.1 / 6.3: a request with both framings may be smuggling one
/// past a proxy: it is refused and the connection closed; so is one whose framing cannot be
/// determined (a transfer coding other than a final "chunked", an HTTP/1.0 Transfer-Encoding,
/// differing lengths); one that is framed but coded in a way the server does not decode gets
/// 501; a length over `max_body` 413.
fn framing(headers: &[(String, String)], minor: u8, max_body: usize) -> Result<Framing, WireError> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let chunked = has("Transfer-Encoding");
    if chunked && has("Content-Length") {
        return Err(bad("request has both Transfer-Encoding and Content-Length"));
    }
    if chunked && minor == 0 {
        return Err(bad("HTTP/1.0 request has Transfer-Encoding"));
    }
    let codings: Vec<String> = elements(headers, "Transfer-Encoding")
        .map(str::to_ascii_lowercase)
        .collect();
    if chunked && codings.last().is_none_or(|c| c != "chunked") {
        return Err(bad(format!(
            "Transfer-Encoding {codings:?} does not end in chunked"
        )));
    }
    if codings.len() > 1 {
        let why = format!("Transfer-Encoding {codings:?}: only chunked is implemented");
        return Err(WireError::Refused(501, why));
    }
    if chunked {
        return Ok(Framing::Chunked);
    }
    let mut length = None;
    for v in elements(headers, "Content-Length") {
        let n = v
            .parse::<usize>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(format!("bad Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("request has differing Content-Lengths"));
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if length > max_body {
        return Err(too_large(max_body));
    }
    Ok(Framing::Length(length))
}

fn too_large(max_body: usize) -> WireError {
    WireError::Refused(413, format!("request body larger than {max_body} bytes"))
}

/// A chunked body (RFC 9112 7.1), its trailer fields checked and dropped.
fn read_chunked(r: &mut impl BufRead, max_body: usize) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    let mut budget = MAX_HEADERS;
    loop {
        line.clear();
        if read_line(r, &mut line, &mut budget, CHUNK_LINE)? == 0 {
            return Err(cut_short());
        }
        let Ok(Status::Complete((_, size))) = httparse::parse_chunk_size(&line) else {
            let line = String::from_utf8_lossy(&line);
            return Err(bad(format!("bad chunk size line {line:?}")));
        };
        if size == 0 {
            let mut trailers = Vec::new();
            let mut slots = read_fields(r, &mut trailers, &mut budget)?;
            parsed(
                httparse::parse_headers(&trailers, &mut slots),
                "trailer section",
            )?;
            return Ok(body);
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= max_body - body.len())
            .ok_or_else(|| too_large(max_body))?;
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
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
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
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

    /// Each input is refused with `status`.
    fn assert_all_refused(inputs: &[&[u8]], status: u16) {
        for raw in inputs {
            let got = refused(raw, 10);
            assert_eq!(got, Some(status), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// The status a request is refused with, `None` when it is not refused.
    fn refused(raw: &[u8], max: usize) -> Option<u16> {
        match read(raw, max).0 {
            Err(WireError::Refused(status, _)) => Some(status),
            _ => None,
        }
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
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 10),
            Some(413)
        );
        assert_eq!(
            refused(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n",
                10
            ),
            Some(413)
        );
        assert_all_refused(
            &[
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
            ],
            400,
        );
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
        assert_eq!(refused(long.as_bytes(), 10), Some(414));
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
        assert!(matches!(r, Err(WireError::Refused(413, _))));
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
        assert_all_refused(
            &[
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
            ],
            400,
        );
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
        assert_eq!(refused(raw.as_bytes(), 10), Some(431));
    }

    /// RFC 9112 5.1, 5.2, 2.2: no whitespace between a field name and its colon, a name of at
    /// least one token character, no line folding, no whitespace before the first field, no
    /// bare CR: each is refused, as a proxy may read such a field otherwise.
    #[test]
    fn field_lines_are_refused_where_rfc_9112_says() {
        assert_all_refused(
            &[
                &b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"[..],
                b"GET / HTTP/1.1\r\n: v\r\n\r\n",
                b"GET / HTTP/1.1\r\nX-A: a\r\n folded: b\r\n\r\n",
                b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
                b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
                b"GET /a\x01b HTTP/1.1\r\n\r\n",
            ],
            400,
        );
    }

    /// A field line or all the fields too large: 431 (RFC 6585 5); a request line too long:
    /// 414 (RFC 9112 3).
    #[test]
    fn oversized_heads_are_414_or_431() {
        let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
        assert_eq!(refused(line.as_bytes(), 10), Some(414));
        let field = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(MAX_LINE));
        assert_eq!(refused(field.as_bytes(), 10), Some(431));
        let fit = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(MAX_LINE - 5));
        assert_eq!(request(fit.as_bytes()).headers[0].1.len(), MAX_LINE - 5);
    }

    /// RFC 9112 6.1: HTTP/1.0 has no transfer codings, so its framing is faulty (400); a
    /// coding other than chunked before chunked is framed but not decoded here (501).
    #[test]
    fn transfer_codings_other_than_chunked() {
        assert_all_refused(
            &[b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
            400,
        );
        assert_all_refused(
            &[
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ],
            501,
        );
    }

    /// RFC 9112 7.1: a chunk size is hex digits ended by CRLF, trailers are field lines, and
    /// the body ends with the empty line after them; sizes that would overflow are too large.
    #[test]
    fn chunked_framing_is_strict() {
        let chunked = |rest: &[u8]| {
            let mut raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            raw.extend_from_slice(rest);
            raw
        };
        let bad = [
            chunked(b"+3\r\nabc\r\n0\r\n\r\n"),
            chunked(b"3\nabc\r\n0\r\n\r\n"),
            chunked(b"10000000000000000\r\n"),
            chunked(b"3\r\nabc\r\n0\r\nno colon\r\n\r\n"),
        ];
        assert_all_refused(&bad.each_ref().map(Vec::as_slice), 400);
        assert_eq!(
            refused(&chunked(b"1\r\na\r\nffffffffffffffff\r\n"), 10),
            Some(413)
        );
        assert!(matches!(
            read(&chunked(b"3\r\nabc\r\n0\r\n"), 10).0,
            Err(WireError::Io(_))
        ));
    }

    /// Connection options are read from every Connection line (RFC 9110 7.6.1).
    #[test]
    fn close_on_a_second_connection_line() {
        let inc = read(
            b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            10,
        )
        .0
        .expect("ok")
        .expect("a request");
        assert!(!inc.keep_alive);
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
