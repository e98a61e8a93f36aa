//! The rtnetlink socket, its one request/response loop, and the kernel-refusal error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use log::{debug, trace};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::NetNs;

/// How long one `recv` may wait for the kernel before the request fails.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// Initial receive buffer; it grows when the kernel queues a bigger datagram.
const RECV_BUFFER: usize = 32 * 1024;
/// How often a dump is restarted when the kernel flags it as interrupted.
const DUMP_ATTEMPTS: u32 = 5;
/// `nlmsghdr` size: what a capped error echoes of the request.
const NLMSG_HDRLEN: usize = 16;
/// `NLMSGERR_ATTR_MSG`: the kernel's human-readable extended-ACK text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A synchronous NETLINK_ROUTE socket, bound to the network namespace it was created in.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    /// The namespace the socket lives in when it was made with [`Netlink::in_netns`]; named in
    /// every error so a failure on the container side cannot be mistaken for the host side.
    netns: Option<PathBuf>,
}

/// A kernel refusal: the errno from `NLMSG_ERROR`/`NLMSG_DONE` plus the extended-ACK text.
#[derive(Debug)]
pub struct NlError {
    /// Positive errno (`libc::EEXIST`, `libc::ENODEV`, ...).
    pub errno: i32,
    /// The kernel's explanation (`NLMSGERR_ATTR_MSG`), when it gave one.
    pub ext_msg: Option<String>,
    /// What was asked, e.g. `create veth tapab12 (peer eth0 in /var/run/netns/x)`.
    pub op: String,
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.op,
            io::Error::from_raw_os_error(self.errno)
        )?;
        if let Some(msg) = &self.ext_msg {
            write!(f, ": {msg}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NlError {}

/// The errno of the first [`NlError`] in an `anyhow` chain.
pub fn errno_of(err: &anyhow::Error) -> Option<i32> {
    err.chain()
        .find_map(|e| e.downcast_ref::<NlError>())
        .map(|e| e.errno)
}

/// A dump the kernel marked `NLM_F_DUMP_INTR` (the table changed while it was being walked).
#[derive(Debug)]
struct DumpInterrupted {
    op: String,
}

impl fmt::Display for DumpInterrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the kernel reported an inconsistent dump (NLM_F_DUMP_INTR); retry",
            self.op
        )
    }
}

impl std::error::Error for DumpInterrupted {}

impl Netlink {
    /// A socket bound to the calling thread's network namespace.
    pub fn new() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).context("create NETLINK_ROUTE socket")?;
        // Strict checking makes the kernel honour dump filters and reject malformed headers
        // instead of ignoring them; ext-ack gives the error text; cap-ack keeps errors short.
        sock.set_netlink_get_strict_chk(true)
            .context("enable NETLINK_GET_STRICT_CHK")?;
        sock.set_ext_ack(true).context("enable NETLINK_EXT_ACK")?;
        sock.set_cap_ack(true).context("enable NETLINK_CAP_ACK")?;
        set_recv_timeout(&sock, RECV_TIMEOUT)?;
        let kernel = SocketAddr::new(0, 0);
        sock.bind(&kernel).context("bind netlink socket")?;
        sock.connect(&kernel).context("connect netlink socket")?;
        Ok(Netlink {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
            netns: None,
        })
    }

    /// A socket created inside `ns`; it stays bound to `ns` whichever thread uses it.
    pub fn in_netns(ns: &NetNs) -> Result<Netlink> {
        ns.run(|| Self::opened_in(ns))
    }

    /// [`Netlink::in_netns`] on a thread of `scope`, while the caller goes on.
    pub fn spawn_in_netns<'scope>(
        scope: &'scope Scope<'scope, '_>,
        ns: &'scope NetNs,
    ) -> Result<ScopedJoinHandle<'scope, Result<Netlink>>> {
        ns.spawn(scope, || Self::opened_in(ns))
    }

    /// A socket opened by a thread inside `ns`.
    fn opened_in(ns: &NetNs) -> Result<Netlink> {
        let mut nl = Netlink::new()
            .with_context(|| format!("open netlink socket in {}", ns.path().display()))?;
        nl.netns = Some(ns.path().to_path_buf());
        Ok(nl)
    }

    /// Sends one request and returns the kernel's reply messages.
    ///
    /// Non-dump requests always carry `NLM_F_ACK` and are read until the ACK or error; dumps
    /// (`NLM_F_DUMP`) are read until `NLMSG_DONE`. Replies to older requests are skipped.
    pub fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let op = format!("{} request", message_name(&msg));
        self.request_op(&op, msg, flags)
    }

    /// [`Netlink::request`] with a description of the operation for errors and logs.
    pub(super) fn request_op(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let op = match &self.netns {
            Some(path) => format!("{op} in {}", path.display()),
            None => op.to_string(),
        };
        // Like the kernel: a GET with either dump bit is a dump. (On NEW requests the same bits
        // mean NLM_F_REPLACE and NLM_F_EXCL.)
        let dump = is_get(&msg) && flags & NLM_F_DUMP != 0;
        let seq = self.send(&op, msg, flags, dump)?;
        self.collect(&op, seq)
    }

    /// A dump request, restarted a few times when the kernel reports it as interrupted.
    pub(super) fn dump(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut attempt = 1;
        loop {
            match self.request_op(op, msg.clone(), NLM_F_DUMP) {
                Err(e) if e.is::<DumpInterrupted>() && attempt < DUMP_ATTEMPTS => {
                    debug!("{e} (attempt {attempt} of {DUMP_ATTEMPTS})");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn send(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16, dump: bool) -> Result<u32> {
        // The kernel never ACKs a dump; an ACK on a non-dump GET makes its end unambiguous.
        let flags = if dump {
            flags & !NLM_F_ACK
        } else {
            flags | NLM_F_ACK
        };
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        trace!("netlink send ({op}): {packet:?}");
        let sent = loop {
            match self.sock.send(&bytes, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.with_context(|| format!("{op}: netlink send"))?,
            }
        };
        if sent != bytes.len() {
            bail!("{op}: netlink send wrote {sent} of {} bytes", bytes.len());
        }
        Ok(self.seq)
    }

    /// Reads replies to `seq` until the ACK, the error or `NLMSG_DONE`.
    ///
    /// A problem found before the end (undecodable message, overrun) is remembered and returned
    /// once the reply is complete, so no rest of it is left queued on the socket.
    fn collect(&mut self, op: &str, seq: u32) -> Result<Vec<RouteNetlinkMessage>> {
        let mut replies = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut interrupted = false;
        loop {
            let n = match self.recv_datagram(op) {
                Ok(n) => n,
                // A problem already seen explains more than the timeout that followed it.
                Err(e) => return Err(failure.unwrap_or(e)),
            };
            let mut off = 0;
            while off < n {
                let (len, msg_seq, msg_flags) = match NetlinkBuffer::new_checked(&self.buf[off..n])
                {
                    Ok(frame) => (
                        frame.length() as usize,
                        frame.sequence_number(),
                        frame.flags(),
                    ),
                    Err(e) => {
                        failure.get_or_insert(anyhow!("{op}: malformed netlink reply: {e}"));
                        break;
                    }
                };
                let frame = &self.buf[off..off + len];
                off += align4(len).min(n - off);
                if msg_seq != seq {
                    trace!("netlink recv ({op}): skipping reply to sequence {msg_seq}");
                    continue;
                }
                if msg_flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) {
                    Ok(msg) => msg,
                    Err(e) => {
                        failure.get_or_insert(anyhow!("{op}: cannot decode netlink reply: {e}"));
                        continue;
                    }
                };
                trace!("netlink recv ({op}): {msg:?}");
                let outcome = match msg.payload {
                    NetlinkPayload::InnerMessage(inner) => {
                        replies.push(inner);
                        continue;
                    }
                    NetlinkPayload::Error(e) => match e.code {
                        None => {
                            if let Some(text) = error_ext_ack(msg_flags, &e.header) {
                                debug!("{op}: kernel warning: {text}");
                            }
                            Ok(())
                        }
                        Some(code) => Err(anyhow::Error::new(NlError {
                            errno: -code.get(),
                            ext_msg: error_ext_ack(msg_flags, &e.header),
                            op: op.to_string(),
                        })),
                    },
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        Err(anyhow::Error::new(NlError {
                            errno: -done.code,
                            ext_msg: done_ext_ack(msg_flags, &done.extended_ack),
                            op: op.to_string(),
                        }))
                    }
                    NetlinkPayload::Done(_) if interrupted => {
                        Err(anyhow::Error::new(DumpInterrupted { op: op.to_string() }))
                    }
                    NetlinkPayload::Done(_) => Ok(()),
                    NetlinkPayload::Overrun(_) => {
                        failure.get_or_insert(anyhow!("{op}: netlink overrun"));
                        continue;
                    }
                    _ => continue,
                };
                return match (outcome, failure) {
                    (Err(e), _) => Err(e),
                    (Ok(()), Some(e)) => Err(e),
                    (Ok(()), None) => Ok(replies),
                };
            }
        }
    }

    /// Reads one whole datagram into `self.buf` and returns its length. The datagram is peeked
    /// first (`MSG_PEEK | MSG_TRUNC` returns its real size) so the buffer can grow to fit it.
    fn recv_datagram(&mut self, op: &str) -> Result<usize> {
        let size = self.recv_raw(op, libc::MSG_PEEK | libc::MSG_TRUNC)?;
        if size > self.buf.len() {
            self.buf.resize(size, 0);
        }
        let n = self.recv_raw(op, libc::MSG_TRUNC)?;
        if n > self.buf.len() {
            bail!(
                "{op}: netlink reply truncated ({n} bytes, buffer {})",
                self.buf.len()
            );
        }
        Ok(n)
    }

    fn recv_raw(&mut self, op: &str, flags: libc::c_int) -> Result<usize> {
        loop {
            match self.sock.recv(&mut &mut self.buf[..], flags) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "{op}: no reply from the kernel within {}s",
                        RECV_TIMEOUT.as_secs()
                    )));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("{op}: netlink receive")));
                }
            }
        }
    }
}

fn set_recv_timeout(sock: &Socket, timeout: Duration) -> Result<()> {
    let tv = nix::sys::time::TimeVal::new(
        timeout.as_secs() as libc::time_t,
        timeout.subsec_micros() as libc::suseconds_t,
    );
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .context("set SO_RCVTIMEO on netlink socket")
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Whether `msg` is an `RTM_GET*` request: rtnetlink types come in NEW/DEL/GET/SET fours from
/// `RTM_BASE` (= `RTM_NEWLINK`), as the kernel's `rtnl_msgtype_kind` reads them.
fn is_get(msg: &RouteNetlinkMessage) -> bool {
    msg.message_type().wrapping_sub(libc::RTM_NEWLINK) & 3 == 2
}

/// The rtnetlink name of a request, for errors about raw [`Netlink::request`] calls.
fn message_name(msg: &RouteNetlinkMessage) -> String {
    let name = match msg.message_type() {
        libc::RTM_NEWLINK => "RTM_NEWLINK",
        libc::RTM_DELLINK => "RTM_DELLINK",
        libc::RTM_GETLINK => "RTM_GETLINK",
        libc::RTM_SETLINK => "RTM_SETLINK",
        libc::RTM_NEWADDR => "RTM_NEWADDR",
        libc::RTM_DELADDR => "RTM_DELADDR",
        libc::RTM_GETADDR => "RTM_GETADDR",
        libc::RTM_NEWROUTE => "RTM_NEWROUTE",
        libc::RTM_DELROUTE => "RTM_DELROUTE",
        libc::RTM_GETROUTE => "RTM_GETROUTE",
        other => return format!("rtnetlink message type {other}"),
    };
    name.to_string()
}

/// The extended-ACK text of an `NLMSG_ERROR`. `payload` is what follows the errno: the echoed
/// request (only its header when the reply is `NLM_F_CAPPED`), then TLVs if `NLM_F_ACK_TLVS`.
pub(super) fn error_ext_ack(reply_flags: u16, payload: &[u8]) -> Option<String> {
    if reply_flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if reply_flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let len = payload.get(0..4)?;
        align4(u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize)
    };
    ext_ack_text(payload.get(echoed..)?)
}

/// The extended-ACK text of an `NLMSG_DONE`: its TLVs follow the error code directly.
fn done_ext_ack(reply_flags: u16, tlvs: &[u8]) -> Option<String> {
    if reply_flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    ext_ack_text(tlvs)
}

/// Finds `NLMSGERR_ATTR_MSG` in a run of netlink attributes.
pub(super) fn ext_ack_text(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let value = &tlvs[4..len];
            let text = value.split(|b| *b == 0).next().unwrap_or(value);
            let text = String::from_utf8_lossy(text).trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
        tlvs = tlvs.get(align4(len)..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = 4 + value.len();
        let mut out = Vec::new();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(align4(len), 0);
        out
    }

    #[test]
    fn nl_error_display_names_op_errno_and_kernel_text() {
        let err = NlError {
            errno: libc::EEXIST,
            ext_msg: Some("ipv4: Address already assigned".into()),
            op: "add address 10.0.0.2/24 to link 3".into(),
        };
        assert_eq!(
            err.to_string(),
            "add address 10.0.0.2/24 to link 3: File exists (os error 17): ipv4: Address already assigned"
        );
        let bare = NlError {
            errno: libc::ENODEV,
            ext_msg: None,
            op: "delete link 9".into(),
        };
        assert_eq!(
            bare.to_string(),
            "delete link 9: No such device (os error 19)"
        );
    }

    #[test]
    fn only_get_requests_count_as_dumps() {
        use netlink_packet_route::address::AddressMessage;
        use netlink_packet_route::link::LinkMessage;
        use netlink_packet_route::route::RouteMessage;
        assert!(is_get(
            &RouteNetlinkMessage::GetLink(LinkMessage::default())
        ));
        assert!(is_get(&RouteNetlinkMessage::GetAddress(
            AddressMessage::default()
        )));
        assert!(is_get(&RouteNetlinkMessage::GetRoute(
            RouteMessage::default()
        )));
        assert!(!is_get(&RouteNetlinkMessage::NewRoute(
            RouteMessage::default()
        )));
        assert!(!is_get(&RouteNetlinkMessage::SetLink(
            LinkMessage::default()
        )));
        assert!(!is_get(&RouteNetlinkMessage::DelAddress(
            AddressMessage::default()
        )));
    }

    #[test]
    fn errno_of_finds_nl_error_under_context() {
        let err = anyhow::Error::new(NlError {
            errno: libc::ESRCH,
            ext_msg: None,
            op: "delete route".into(),
        })
        .context("tear down container")
        .context("CNI DEL");
        assert_eq!(errno_of(&err), Some(libc::ESRCH));
        assert_eq!(errno_of(&anyhow!("not a kernel error")), None);
    }

    #[test]
    fn ext_ack_text_skips_other_attributes() {
        let mut tlvs = tlv(2, &7u32.to_ne_bytes()); // NLMSGERR_ATTR_OFFS
        tlvs.extend(tlv(NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0"));
        assert_eq!(
            ext_ack_text(&tlvs).as_deref(),
            Some("Nexthop has invalid gateway")
        );
        assert_eq!(ext_ack_text(&tlv(2, &[0; 4])), None);
        assert_eq!(
            ext_ack_text(&[8, 0, 1]),
            None,
            "short input is not an attribute"
        );
        assert_eq!(
            ext_ack_text(&[200, 0, 1, 0, 0, 0]),
            None,
            "overlong attribute is ignored"
        );
    }

    #[test]
    fn error_ext_ack_skips_capped_and_full_echo() {
        let text = tlv(NLMSGERR_ATTR_MSG, b"Invalid values in header\0");
        // Capped: only the 16-byte header of the request is echoed.
        let mut capped = vec![0u8; NLMSG_HDRLEN];
        capped.extend(&text);
        assert_eq!(
            error_ext_ack(NLM_F_CAPPED | NLM_F_ACK_TLVS, &capped).as_deref(),
            Some("Invalid values in header")
        );
        // Not capped: the whole 28-byte request is echoed; its length is in its header.
        let mut full = 28u32.to_ne_bytes().to_vec();
        full.resize(28, 0);
        full.extend(&text);
        assert_eq!(
            error_ext_ack(NLM_F_ACK_TLVS, &full).as_deref(),
            Some("Invalid values in header")
        );
        // Without NLM_F_ACK_TLVS there is nothing to parse.
        assert_eq!(error_ext_ack(NLM_F_CAPPED, &capped), None);
    }
}
