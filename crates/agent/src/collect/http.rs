//! A minimal blocking HTTP/1.1 client: what the Docker Engine API (over a Unix socket) and
//! Ollama's API (over loopback TCP) need and nothing more (one request per connection,
//! `Content-Length` or chunked bodies).
//!
//! Why not `bollard` (the architecture's pick for Docker) or reqwest: collectors are
//! synchronous and run on the agent's collection thread, outside the async runtime. bollard is
//! async-only, so every call would need a hop onto the runtime (`Handle::block_on`, which cannot
//! drive I/O on a current-thread runtime from another thread), and it brings its generated model
//! crate for the whole Engine API (hundreds of types, the largest compile unit in its tree) plus
//! its own hyper client stack, for six endpoints and about thirty fields. This file is ~250
//! lines of std only; a request is one `connect(2)` to a local peer, a write and a few reads.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest response read; a container list of thousands of entries stays well below.
const MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// An HTTP response, its body de-chunked.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The socket exists but nobody accepts on it (daemon stopped), or we may not use it.
    #[error("connecting: {0}")]
    Connect(io::Error),
    #[error("{0}")]
    Io(io::Error),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// What one request travels over: a Unix or a TCP stream.
trait Transport: Read + Write {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

/// Sends one request over the Unix socket `socket` and reads the whole response.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let stream = UnixStream::connect(socket).map_err(HttpError::Connect)?;
    exchange(stream, "docker", method, path, timeout, started)
}

/// Sends one request to `addr` over TCP, naming `host` (`127.0.0.1:11434`) in its `Host`
/// header, and reads the whole response; `timeout` covers connecting too.
pub fn request_tcp(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            HttpError::Timeout(timeout.as_secs())
        }
        _ => HttpError::Connect(e),
    })?;
    exchange(stream, host, method, path, timeout, started)
}

fn exchange(
    mut stream: impl Transport,
    host: &str,
    method: &str,
    path: &str,
    timeout: Duration,
    started: Instant,
) -> Result<Response, HttpError> {
    stream
        .set_write_timeout(Some(timeout))
        .map_err(HttpError::Io)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hostwatch/{}\r\n\
         Accept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| timed_out(e, timeout))?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(HttpError::Timeout(timeout.as_secs()));
        }
        stream.set_read_timeout(Some(left)).map_err(HttpError::Io)?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(timed_out(e, timeout)),
        };
        if n == 0 {
            return parse(&buf, true)?
                .ok_or_else(|| HttpError::Malformed("connection closed mid-response".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(HttpError::Malformed(format!(
                "response larger than {MAX_RESPONSE} bytes"
            )));
        }
        if let Some(response) = parse(&buf, false)? {
            return Ok(response);
        }
    }
}

fn timed_out(e: io::Error, timeout: Duration) -> HttpError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            HttpError::Timeout(timeout.as_secs())
        }
        _ => HttpError::Io(e),
    }
}

/// The response in `buf` if it is complete (`eof`: the peer closed, so what is there is all).
fn parse(buf: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err(HttpError::Malformed(if buf.is_empty() {
                "empty response".into()
            } else {
                "no end of headers".into()
            }))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| HttpError::Malformed("headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!(
            "status line `{}`",
            status_line.chars().take(80).collect::<String>()
        )));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| HttpError::Malformed(format!("status code `{code}`")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Err(HttpError::Malformed(format!("header line `{line}`")));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let rest = &buf[head_end + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return match dechunk(rest)? {
            Some(body) => {
                response.body = body;
                Ok(Some(response))
            }
            None if eof => Err(HttpError::Malformed(
                "connection closed inside a chunked body".into(),
            )),
            None => Ok(None),
        };
    }
    if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::Malformed(format!("Content-Length `{len}`")))?;
        if rest.len() >= len {
            response.body = rest[..len].to_vec();
            return Ok(Some(response));
        }
        return if eof {
            Err(HttpError::Malformed(format!(
                "body cut short: {} of {len} bytes",
                rest.len()
            )))
        } else {
            Ok(None)
        };
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(response));
    }
    // No length: the body runs to the end of the connection.
    if eof {
        response.body = rest.to_vec();
        Ok(Some(response))
    } else {
        Ok(None)
    }
}

/// The body of a complete chunked message, or `None` while chunks are still missing.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::with_capacity(rest.len());
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| HttpError::Malformed("chunk size is not text".into()))?;
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size `{size_hex}`")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line; we need none of them.
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        if &rest[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF".into()));
        }
        rest = &rest[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body_is_complete_only_when_all_bytes_are_there() {
        let full =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n[{}]";
        assert_eq!(parse(&full[..full.len() - 1], false).unwrap(), None);
        let r = parse(full, false).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[{}]"[..]));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let err = parse(&full[..full.len() - 1], true).unwrap_err();
        assert!(err.to_string().contains("cut short: 3 of 4"), "{err}");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.47\r\n\r\n\
                    3\r\n[{\"\r\na;ext=1\r\nId\":\"abc\"}\r\n1\r\n]\r\n0\r\n\r\n";
        let r = parse(msg, false).unwrap().unwrap();
        assert_eq!(r.body, b"[{\"Id\":\"abc\"}]");
        assert_eq!(r.header("API-VERSION"), Some("1.47"));
        // Missing the last chunk: not complete yet; at EOF, an error.
        let cut = &msg[..msg.len() - 12];
        assert_eq!(parse(cut, false).unwrap(), None);
        assert!(parse(cut, true).is_err());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in [
            &b""[..],
            b"garbage",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno-colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad, true), Err(HttpError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_body_without_length_runs_to_the_end() {
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nOK", true).unwrap().unwrap();
        assert_eq!(r.body, b"OK");
        assert_eq!(parse(b"HTTP/1.0 200 OK\r\n\r\nOK", false).unwrap(), None);
        let r = parse(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.status, 204);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_damaged_response(
            text in crate::collect::tools::testing::damaged(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.47\r\n\r\n\
                 4\r\n[{}]\r\n0\r\n\r\n"
            ),
            eof: bool,
        ) {
            let _ = parse(text.as_bytes(), eof);
        }

        #[test]
        fn never_panics_on_a_damaged_sized_response(
            text in crate::collect::tools::testing::damaged(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n\
                 {\"message\":\"no such image\"}"
            ),
            eof: bool,
        ) {
            let _ = parse(text.as_bytes(), eof);
        }
    }
}
