//! The egress table (`policy::egress::Table`) as one nf_tables netlink batch, sent without
//! libnftables: the fast path into a container's fresh network namespace (issue 20). Loading the
//! same table with libnftables costs about 2.4 ms of CPU (the library's `dlopen`, the parse of
//! the script, its cache queries); this is one `send` and the kernel's answers.
//!
//! The batch is the transaction `nft -f` sends for [`Plan::create_script`]
//! (`create table inet hardrun_egress` first), expression for expression, so that `nft list`
//! shows the same table (tests/nft_batch.rs compares both listings on the real kernel). What
//! nft 1.0.6 generates for each match (`nft --debug=netlink`):
//!
//! - `ip daddr A/P`: `meta nfproto`, `cmp eq 2` (ip6: 10); a prefix that is a whole number of
//!   bytes (not 0) loads and compares only those bytes of the destination (network header + 16,
//!   ip6 + 24); any other loads the whole address and masks it with `bitwise` first;
//! - `tcp dport N` (udp): `meta l4proto`, `cmp eq 6` (17), `payload` 2 bytes at transport
//!   header + 2, `cmp eq N`, or `cmp gte A` and `cmp lte B` for a range;
//! - `ct state established,related`: `ct state`, `bitwise & 6`, `cmp neq 0`;
//! - `oif "lo"`: `meta oif`, `cmp eq 1` (lo is ifindex 1 in every network namespace);
//! - `counter name "N"`: `objref` to the named counter; then the verdict (`immediate`).
//!
//! Not expressible here (then [`create_batch`] is `None` and the caller loads the script with
//! libnftables): an entry with ports for TCP and UDP (nft matches `meta l4proto { tcp, udp }`
//! with an anonymous set), and a counter comment longer than the 128 bytes nft accepts (nft
//! refuses the script; its error is the one to report).
//!
//! [`Plan::create_script`]: crate::policy::egress::Plan::create_script

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::policy::egress::{Match, Rule, Table};
use crate::profile::egress::{Entry, Proto};

// linux/netlink.h
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_HDRLEN: usize = 16;

// linux/netfilter/nfnetlink.h
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNETLINK_V0: u8 = 0;

// linux/netfilter.h
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NF_INET_LOCAL_OUT: u32 = 3;

// linux/in.h
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

// linux/netfilter/nf_conntrack_common.h: NF_CT_STATE_BIT(IP_CT_ESTABLISHED | IP_CT_RELATED)
const NF_CT_STATE_ESTABLISHED_BIT: u32 = 1 << 1;
const NF_CT_STATE_RELATED_BIT: u32 = 1 << 2;

// linux/netfilter/nf_tables.h
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWOBJ: u16 = 18;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_OBJ_TABLE: u16 = 1;
const NFTA_OBJ_NAME: u16 = 2;
const NFTA_OBJ_TYPE: u16 = 3;
const NFTA_OBJ_DATA: u16 = 4;
const NFTA_OBJ_USERDATA: u16 = 8;
const NFT_OBJECT_COUNTER: u32 = 1;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFT_META_OIF: u32 = 5;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFT_CT_STATE: u32 = 0;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CMP_LTE: u32 = 3;
const NFT_CMP_GTE: u32 = 5;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_OBJREF_IMM_TYPE: u16 = 1;
const NFTA_OBJREF_IMM_NAME: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;

// libnftnl's udata (include/libnftnl/udata.h): a counter's comment
const NFTNL_UDATA_OBJ_COMMENT: u8 = 0;
/// nft refuses a longer comment (`NFTNL_UDATA_COMMENT_MAXLEN`, bytes).
const COMMENT_MAXLEN: usize = 128;

/// The output chain's name.
const CHAIN: &str = "output";

/// One nf_tables batch, ready for [`send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// the netlink messages, begin to end
    pub bytes: Vec<u8>,
    /// the sequence number of the batch-begin message; the acked messages follow it
    pub seq: u32,
    /// how many messages ask for an answer (all but begin and end)
    pub acked: u32,
}

/// The netlink batch (NFNL_MSG_BATCH_BEGIN … NFNL_MSG_BATCH_END) that creates table
/// `inet <name>` (NLM_F_CREATE|NLM_F_EXCL: the whole transaction fails with EEXIST when the
/// table exists) with `table`'s named counters (with their comments) and its base chain
/// `output` (type filter hook output priority 0 policy accept) holding `table.rules` in order;
/// every message but begin/end carries NLM_F_ACK; sequence numbers start at `seq`. None when a
/// rule cannot be expressed natively: a `Match::Dest` whose entry has ports and `Proto::Both`
/// (nft uses an anonymous set `meta l4proto { tcp, udp }` there; the caller then keeps using
/// libnftables), or a comment nft would refuse (longer than 128 bytes).
pub fn create_batch(table: &Table, name: &str, seq: u32) -> Option<Batch> {
    let rules = table
        .rules
        .iter()
        .map(rule_exprs)
        .collect::<Option<Vec<_>>>()?;
    if table.counters.iter().any(|(_, c)| c.len() > COMMENT_MAXLEN) {
        return None;
    }
    let mut w = Writer {
        buf: Vec::with_capacity(512 + 400 * rules.len()),
        seq,
    };
    w.batch(NFNL_MSG_BATCH_BEGIN);
    w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, |w| {
        w.strz(NFTA_TABLE_NAME, name);
        w.u32(NFTA_TABLE_FLAGS, 0);
    });
    w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |w| {
        w.strz(NFTA_CHAIN_TABLE, name);
        w.strz(NFTA_CHAIN_NAME, CHAIN);
        w.strz(NFTA_CHAIN_TYPE, "filter");
        w.u32(NFTA_CHAIN_POLICY, NF_ACCEPT);
        w.nest(NFTA_CHAIN_HOOK, |w| {
            w.u32(NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT);
            w.u32(NFTA_HOOK_PRIORITY, 0);
        });
    });
    for (counter, comment) in &table.counters {
        w.nft(NFT_MSG_NEWOBJ, NLM_F_CREATE, |w| {
            w.strz(NFTA_OBJ_TABLE, name);
            w.strz(NFTA_OBJ_NAME, counter);
            w.u32(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
            // one udata TLV: type, length (with the NUL), the string with its NUL
            let mut udata = vec![NFTNL_UDATA_OBJ_COMMENT, comment.len() as u8 + 1];
            udata.extend_from_slice(comment.as_bytes());
            udata.push(0);
            w.attr(NFTA_OBJ_USERDATA, &udata);
            w.nest(NFTA_OBJ_DATA, |w| {
                w.attr(NFTA_COUNTER_BYTES, &0u64.to_be_bytes());
                w.attr(NFTA_COUNTER_PACKETS, &0u64.to_be_bytes());
            });
        });
    }
    for exprs in &rules {
        w.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, |w| {
            w.strz(NFTA_RULE_TABLE, name);
            w.strz(NFTA_RULE_CHAIN, CHAIN);
            w.nest(NFTA_RULE_EXPRESSIONS, |w| {
                for e in exprs {
                    w.nest(NFTA_LIST_ELEM, |w| e.put(w));
                }
            });
        });
    }
    let acked = w.seq.wrapping_sub(seq).wrapping_sub(1);
    w.batch(NFNL_MSG_BATCH_END);
    Some(Batch {
        bytes: w.buf,
        seq,
        acked,
    })
}

/// A NETLINK_NETFILTER socket (SOCK_RAW|SOCK_CLOEXEC) in the calling thread's network
/// namespace. Its error answers carry only the failed message's header (NETLINK_CAP_ACK), and a
/// read waits at most 5 s (the kernel answers a batch before `send` returns: waiting longer
/// would only hide a bug).
pub fn socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; it takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor socket(2) just returned, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_NETLINK,
        libc::NETLINK_CAP_ACK,
        &1i32,
    )?;
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        &timeout,
    )?;
    Ok(fd)
}

/// Sends the batch in one `send` and reads the kernel's answers (the kernel processes a batch
/// synchronously inside the send) until every acked message has its NLMSG_ERROR; Ok when all
/// are 0, else the first nonzero error. An error answering the batch-begin message (EPERM
/// without CAP_NET_ADMIN, a failed commit) is returned at once. Answers left unread after an
/// error stay queued: another batch takes a new socket.
pub fn send(sock: BorrowedFd<'_>, batch: &Batch) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    // room for a large table, and for every answer (an answer that does not fit is dropped, and
    // the read fails with ENOBUFS); the defaults hold a table of a few dozen rules
    if batch.bytes.len() > 64 << 10 {
        grow(
            fd,
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            2 * batch.bytes.len(),
        );
    }
    if batch.acked > 64 {
        grow(
            fd,
            libc::SO_RCVBUFFORCE,
            libc::SO_RCVBUF,
            2048 * batch.acked as usize,
        );
    }
    // SAFETY: the pointer and length describe `batch.bytes`, alive and unchanged for the call.
    let sent = unsafe { libc::send(fd, batch.bytes.as_ptr().cast(), batch.bytes.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    if sent as usize != batch.bytes.len() {
        return Err(io::Error::other(format!(
            "netlink sent {sent} of the batch's {} bytes",
            batch.bytes.len()
        )));
    }
    let mut answered = vec![false; batch.acked as usize];
    let (mut left, mut first_err) = (batch.acked, 0i32);
    let mut buf = vec![0u8; 16 << 10];
    while left > 0 {
        // SAFETY: the pointer and length describe `buf`, which recv(2) may fill entirely.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    let got = batch.acked - left;
                    let why = format!("no answer from the kernel in 5 s ({got} of the batch's {} messages answered)", batch.acked);
                    return Err(io::Error::new(io::ErrorKind::TimedOut, why));
                }
                _ => return Err(e),
            }
        }
        let mut msgs = &buf[..n as usize];
        while msgs.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes(msgs[0..4].try_into().unwrap()) as usize;
            if len < NLMSG_HDRLEN || len > msgs.len() {
                break;
            }
            let ty = u16::from_ne_bytes(msgs[4..6].try_into().unwrap());
            let seq = u32::from_ne_bytes(msgs[8..12].try_into().unwrap());
            if ty == NLMSG_ERROR && len >= NLMSG_HDRLEN + 4 {
                let err = i32::from_ne_bytes(msgs[16..20].try_into().unwrap());
                if seq == batch.seq && err != 0 {
                    return Err(io::Error::from_raw_os_error(-err));
                }
                // the acked messages' index (sequence numbers may wrap)
                let i = seq.wrapping_sub(batch.seq).wrapping_sub(1) as usize;
                if i < answered.len() && !std::mem::replace(&mut answered[i], true) {
                    left -= 1;
                    if first_err == 0 {
                        first_err = err;
                    }
                }
            }
            msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
        }
    }
    match first_err {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(-e)),
    }
}

/// Sets a socket buffer to `bytes`: past the system's maximum where CAP_NET_ADMIN allows
/// (`force`), else up to it (`plain`). Best effort: a buffer too small fails the send or the
/// reads later, with the kernel's error.
fn grow(fd: i32, force: i32, plain: i32, bytes: usize) {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    if setsockopt(fd, libc::SOL_SOCKET, force, &bytes).is_err() {
        let _ = setsockopt(fd, libc::SOL_SOCKET, plain, &bytes);
    }
}

/// setsockopt(2) of one plain value.
fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: the pointer and length describe `*value`, a plain value alive for the call; the
    // kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One nf_tables expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    /// `meta load KEY => reg 1`
    Meta(u32),
    /// `ct load KEY => reg 1`
    Ct(u32),
    /// `payload load LEN @ BASE + OFFSET => reg 1`
    Payload { base: u32, offset: u32, len: u32 },
    /// `bitwise reg 1 = (reg 1 & MASK) ^ XOR`
    Bitwise { mask: Vec<u8>, xor: Vec<u8> },
    /// `cmp OP reg 1 DATA`
    Cmp(u32, Vec<u8>),
    /// `objref type 1 name NAME`: a named counter
    Counter(String),
    /// `immediate reg 0 accept|drop`
    Verdict(u32),
}

impl Expr {
    /// The expression's name and data (attribute order as libnftnl writes them).
    fn put(&self, w: &mut Writer) {
        let name = match self {
            Expr::Meta(_) => "meta",
            Expr::Ct(_) => "ct",
            Expr::Payload { .. } => "payload",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Cmp(..) => "cmp",
            Expr::Counter(_) => "objref",
            Expr::Verdict(_) => "immediate",
        };
        w.strz(NFTA_EXPR_NAME, name);
        w.nest(NFTA_EXPR_DATA, |w| match self {
            Expr::Meta(key) => {
                w.u32(NFTA_META_KEY, *key);
                w.u32(NFTA_META_DREG, NFT_REG_1);
            }
            Expr::Ct(key) => {
                w.u32(NFTA_CT_KEY, *key);
                w.u32(NFTA_CT_DREG, NFT_REG_1);
            }
            Expr::Payload { base, offset, len } => {
                w.u32(NFTA_PAYLOAD_DREG, NFT_REG_1);
                w.u32(NFTA_PAYLOAD_BASE, *base);
                w.u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.u32(NFTA_PAYLOAD_LEN, *len);
            }
            Expr::Bitwise { mask, xor } => {
                w.u32(NFTA_BITWISE_SREG, NFT_REG_1);
                w.u32(NFTA_BITWISE_DREG, NFT_REG_1);
                w.u32(NFTA_BITWISE_LEN, mask.len() as u32);
                w.nest(NFTA_BITWISE_MASK, |w| w.attr(NFTA_DATA_VALUE, mask));
                w.nest(NFTA_BITWISE_XOR, |w| w.attr(NFTA_DATA_VALUE, xor));
            }
            Expr::Cmp(op, data) => {
                w.u32(NFTA_CMP_SREG, NFT_REG_1);
                w.u32(NFTA_CMP_OP, *op);
                w.nest(NFTA_CMP_DATA, |w| w.attr(NFTA_DATA_VALUE, data));
            }
            Expr::Counter(name) => {
                w.u32(NFTA_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
                // libnftnl writes this name without its NUL
                w.attr(NFTA_OBJREF_IMM_NAME, name.as_bytes());
            }
            Expr::Verdict(code) => {
                w.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                w.nest(NFTA_IMMEDIATE_DATA, |w| {
                    w.nest(NFTA_DATA_VERDICT, |w| w.u32(NFTA_VERDICT_CODE, *code));
                });
            }
        });
    }
}

/// The expressions of one rule, as nft generates them; None for what needs a set.
fn rule_exprs(r: &Rule) -> Option<Vec<Expr>> {
    let mut out = vec![];
    match &r.matches {
        Match::All => {}
        Match::EstablishedRelated => {
            let state = NF_CT_STATE_ESTABLISHED_BIT | NF_CT_STATE_RELATED_BIT;
            out.push(Expr::Ct(NFT_CT_STATE));
            out.push(Expr::Bitwise {
                mask: state.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            });
            out.push(Expr::Cmp(NFT_CMP_NEQ, vec![0; 4]));
        }
        Match::OifLo => {
            out.push(Expr::Meta(NFT_META_OIF));
            out.push(Expr::Cmp(NFT_CMP_EQ, 1u32.to_ne_bytes().to_vec()));
        }
        Match::Dest(e) => dest(e, &mut out)?,
    }
    if let Some(name) = &r.counter {
        out.push(Expr::Counter(name.clone()));
    }
    out.push(Expr::Verdict(if r.accept { NF_ACCEPT } else { NF_DROP }));
    Some(out)
}

/// `ip daddr A/P [tcp|udp dport N[-M]]`; None for ports of both protocols.
fn dest(e: &Entry, out: &mut Vec<Expr>) -> Option<()> {
    let (nfproto, offset, addr) = match e.addr {
        IpAddr::V4(a) => (NFPROTO_IPV4, 16, a.octets().to_vec()),
        IpAddr::V6(a) => (NFPROTO_IPV6, 24, a.octets().to_vec()),
    };
    let prefix = usize::from(e.prefix).min(addr.len() * 8);
    out.push(Expr::Meta(NFT_META_NFPROTO));
    out.push(Expr::Cmp(NFT_CMP_EQ, vec![nfproto]));
    let network = |len: usize| Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        len: len as u32,
    };
    if prefix > 0 && prefix % 8 == 0 {
        out.push(network(prefix / 8));
        out.push(Expr::Cmp(NFT_CMP_EQ, addr[..prefix / 8].to_vec()));
    } else {
        // the first `prefix` bits of each byte: 0xff00 >> 3 is 0x1fe0, whose low byte 0xe0
        let mask: Vec<u8> = (0..addr.len())
            .map(|i| (0xff00u16 >> prefix.saturating_sub(i * 8).min(8)) as u8)
            .collect();
        let masked = addr.iter().zip(&mask).map(|(a, m)| a & m).collect();
        out.push(network(addr.len()));
        out.push(Expr::Bitwise {
            xor: vec![0; mask.len()],
            mask,
        });
        out.push(Expr::Cmp(NFT_CMP_EQ, masked));
    }
    if let Some((first, last)) = e.ports {
        let l4proto = match e.proto {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
            Proto::Both => return None,
        };
        out.push(Expr::Meta(NFT_META_L4PROTO));
        out.push(Expr::Cmp(NFT_CMP_EQ, vec![l4proto]));
        out.push(Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
        });
        if first == last {
            out.push(Expr::Cmp(NFT_CMP_EQ, first.to_be_bytes().to_vec()));
        } else {
            out.push(Expr::Cmp(NFT_CMP_GTE, first.to_be_bytes().to_vec()));
            out.push(Expr::Cmp(NFT_CMP_LTE, last.to_be_bytes().to_vec()));
        }
    }
    Some(())
}

/// Netlink messages and their attributes, appended to one buffer; `seq` is the next message's
/// sequence number.
struct Writer {
    buf: Vec<u8>,
    seq: u32,
}

impl Writer {
    /// One message: header, nfgenmsg, the attributes `body` writes; its length patched after.
    fn msg(&mut self, ty: u16, flags: u16, family: u8, res_id: u16, body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched below
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf
            .extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel's
        self.buf.extend_from_slice(&[family, NFNETLINK_V0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        body(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.seq = self.seq.wrapping_add(1);
    }

    /// The batch's begin or end: no attributes, the nf_tables subsystem in `res_id`.
    fn batch(&mut self, ty: u16) {
        self.msg(ty, 0, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES, |_| {});
    }

    /// An nf_tables message of family inet that asks for an answer.
    fn nft(&mut self, ty: u16, flags: u16, body: impl FnOnce(&mut Self)) {
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | ty;
        self.msg(ty, flags | NLM_F_ACK, NFPROTO_INET, 0, body);
    }

    /// One attribute, padded to 4 bytes.
    fn attr(&mut self, ty: u16, data: &[u8]) {
        self.buf
            .extend_from_slice(&(4 + data.len() as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A big-endian u32 attribute.
    fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    /// A string attribute with its NUL.
    fn strz(&mut self, ty: u16, s: &str) {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.attr(ty, &data);
    }

    /// A nested attribute holding what `body` writes.
    fn nest(&mut self, ty: u16, body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 2]); // nla_len, patched below
        self.buf
            .extend_from_slice(&(NLA_F_NESTED | ty).to_ne_bytes());
        body(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        let aligned = self.buf.len().next_multiple_of(4);
        self.buf.resize(aligned, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> Entry {
        Entry::parse(s).unwrap()
    }

    fn rule(m: Match, counter: Option<&str>, accept: bool) -> Rule {
        Rule {
            matches: m,
            counter: counter.map(str::to_owned),
            accept,
        }
    }

    /// The table of the script whose bytes nft sent (`NFT_BODIES`).
    fn sample() -> Table {
        let dest = |s: &str| rule(Match::Dest(entry(s)), None, true);
        Table {
            counters: vec![
                ("metadata_0".into(), "metadata: 169.254.169.254/32".into()),
                ("default_deny".into(), "default: x".into()),
            ],
            rules: vec![
                rule(
                    Match::Dest(entry("169.254.169.254/32")),
                    Some("metadata_0"),
                    false,
                ),
                dest("10.0.0.0/8:443/tcp"),
                dest("10.1.2.0/23:1000-2000/udp"),
                dest("fd00::/8"),
                dest("0.0.0.0/0"),
                rule(Match::EstablishedRelated, None, true),
                rule(Match::OifLo, None, true),
                rule(Match::All, Some("default_deny"), false),
            ],
        }
    }

    /// What nft 1.0.6 sent for `sample()`'s script (`create table inet hardrun_egress`, then the
    /// table block), message by message after the nlmsghdr, its duplicate `table` message left
    /// out (strace -e trace=sendmsg -x nft -f FILE): the chain, the two counters, the rules.
    const NFT_BODIES: &[&str] = &[
        // seq 3
        "01000000130001006861726472756e5f65677265737300000b0003006f757470757400000b00070066696c74\
         6572000008000500000000011400048008000100000000030800020000000000",
        // seq 4
        "01000000130001006861726472756e5f65677265737300000f0002006d657461646174615f30000008000300\
         0000000123000800001d6d657461646174613a203136392e3235342e3136392e3235342f333200001c000480\
         0c00010000000000000000000c0002000000000000000000",
        // seq 5
        "01000000130001006861726472756e5f65677265737300001100020064656661756c745f64656e7900000000\
         080003000000000111000800000b64656661756c743a2078000000001c0004800c0001000000000000000000\
         0c0002000000000000000000",
        // seq 6
        "01000000130001006861726472756e5f65677265737300000b0002006f757470757400001001048024000180\
         090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c\
         6f6164002400028008000100000000010800020000000001080003000000001008000400000000042c000180\
         08000100636d700020000280080001000000000108000200000000000c00038008000100a9fea9fe2c000180\
         0b0001006f626a72656600001c00028008000100000000010e0002006d657461646174615f30000030000180\
         0e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
        // seq 7
        "01000000130001006861726472756e5f65677265737300000b0002006f757470757400009401048024000180\
         090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c\
         6f6164002400028008000100000000010800020000000001080003000000001008000400000000012c000180\
         08000100636d700020000280080001000000000108000200000000000c000380050001000a00000024000180\
         090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800500010006000000340001800c0001007061796c\
         6f6164002400028008000100000000010800020000000002080003000000000208000400000000022c000180\
         08000100636d700020000280080001000000000108000200000000000c0003800600010001bb000030000180\
         0e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        // seq 8
        "01000000130001006861726472756e5f65677265737300000b0002006f757470757400000402048024000180\
         090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c\
         6f61640024000280080001000000000108000200000000010800030000000010080004000000000444000180\
         0c0001006269747769736500340002800800010000000001080002000000000108000300000000040c000480\
         08000100fffffe000c00058008000100000000002c00018008000100636d7000200002800800010000000001\
         08000200000000000c000380080001000a01020024000180090001006d657461000000001400028008000200\
         0000001008000100000000012c00018008000100636d70002000028008000100000000010800020000000000\
         0c0003800500010011000000340001800c0001007061796c6f61640024000280080001000000000108000200\
         00000002080003000000000208000400000000022c00018008000100636d7000200002800800010000000001\
         08000200000000050c0003800600010003e800002c00018008000100636d7000200002800800010000000001\
         08000200000000030c0003800600010007d00000300001800e000100696d6d6564696174650000001c000280\
         0800010000000000100002800c0002800800010000000001",
        // seq 9
        "01000000130001006861726472756e5f65677265737300000b0002006f75747075740000e400048024000180\
         090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c000380050001000a000000340001800c0001007061796c\
         6f6164002400028008000100000000010800020000000001080003000000001808000400000000012c000180\
         08000100636d700020000280080001000000000108000200000000000c00038005000100fd00000030000180\
         0e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000001",
        // seq 10
        "01000000130001006861726472756e5f65677265737300000b0002006f757470757400002801048024000180\
         090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c\
         6f61640024000280080001000000000108000200000000010800030000000010080004000000000444000180\
         0c0001006269747769736500340002800800010000000001080002000000000108000300000000040c000480\
         08000100000000000c00058008000100000000002c00018008000100636d7000200002800800010000000001\
         08000200000000000c0003800800010000000000300001800e000100696d6d6564696174650000001c000280\
         0800010000000000100002800c0002800800010000000001",
        // seq 11
        "01000000130001006861726472756e5f65677265737300000b0002006f75747075740000c400048020000180\
         07000100637400001400028008000200000000000800010000000001440001800c0001006269747769736500\
         340002800800010000000001080002000000000108000300000000040c00048008000100060000000c000580\
         08000100000000002c00018008000100636d700020000280080001000000000108000200000000010c000380\
         0800010000000000300001800e000100696d6d6564696174650000001c000280080001000000000010000280\
         0c0002800800010000000001",
        // seq 12
        "01000000130001006861726472756e5f65677265737300000b0002006f757470757400008400048024000180\
         090001006d6574610000000014000280080002000000000508000100000000012c00018008000100636d7000\
         20000280080001000000000108000200000000000c0003800800010001000000300001800e000100696d6d65\
         64696174650000001c0002800800010000000000100002800c0002800800010000000001",
        // seq 13
        "01000000130001006861726472756e5f65677265737300000b0002006f75747075740000600004802c000180\
         0b0001006f626a72656600001c00028008000100000000011000020064656661756c745f64656e7930000180\
         0e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// (type, flags, seq, body after the nlmsghdr) of each message; panics unless every length
    /// is right and aligned, and every attribute lies inside its message or nest.
    fn messages(mut b: &[u8]) -> Vec<(u16, u16, u32, Vec<u8>)> {
        fn attrs(mut a: &[u8]) {
            while !a.is_empty() {
                assert!(a.len() >= 4, "a truncated attribute header");
                let len = usize::from(u16::from_ne_bytes([a[0], a[1]]));
                let ty = u16::from_ne_bytes([a[2], a[3]]);
                assert!(
                    len >= 4 && len <= a.len(),
                    "attribute {ty:#x}: length {len}"
                );
                if ty & NLA_F_NESTED != 0 {
                    attrs(&a[4..len]);
                }
                let padded = len.next_multiple_of(4);
                assert!(padded <= a.len(), "attribute {ty:#x} is not padded");
                assert!(a[len..padded].iter().all(|&p| p == 0));
                a = &a[padded..];
            }
        }
        let mut out = vec![];
        while !b.is_empty() {
            let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
            assert!(
                len >= NLMSG_HDRLEN + 4 && len <= b.len(),
                "message length {len}"
            );
            assert_eq!(len % 4, 0, "message length {len} is not aligned");
            let ty = u16::from_ne_bytes(b[4..6].try_into().unwrap());
            let flags = u16::from_ne_bytes(b[6..8].try_into().unwrap());
            let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
            assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 0);
            attrs(&b[NLMSG_HDRLEN + 4..len]);
            out.push((ty, flags, seq, b[NLMSG_HDRLEN..len].to_vec()));
            b = &b[len..];
        }
        out
    }

    #[test]
    fn the_batch_is_well_formed_begin_to_end_with_consecutive_seqs() {
        let t = sample();
        let seq = u32::MAX - 3; // wraps inside the batch
        let b = create_batch(&t, "hardrun_egress", seq).unwrap();
        let msgs = messages(&b.bytes);
        // begin, table, chain, counters, rules, end
        assert_eq!(msgs.len(), 2 + 2 + t.counters.len() + t.rules.len());
        assert_eq!(b.acked as usize, msgs.len() - 2);
        assert_eq!(b.seq, seq);
        for (i, (ty, flags, s, body)) in msgs.iter().enumerate() {
            assert_eq!(*s, seq.wrapping_add(i as u32), "message {i}");
            assert_ne!(flags & NLM_F_REQUEST, 0);
            let edge = i == 0 || i == msgs.len() - 1;
            assert_eq!(flags & NLM_F_ACK != 0, !edge, "message {i}: {flags:#x}");
            if edge {
                let end = i != 0;
                assert_eq!(
                    *ty,
                    [NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END][end as usize]
                );
                assert_eq!(body[..], [NFPROTO_UNSPEC, NFNETLINK_V0, 0, 10]);
            } else {
                assert_eq!(ty >> 8, NFNL_SUBSYS_NFTABLES, "message {i}");
                assert_eq!(body[..4], [NFPROTO_INET, NFNETLINK_V0, 0, 0]);
            }
        }
        let types: Vec<u16> = msgs[1..msgs.len() - 1].iter().map(|m| m.0 & 0xff).collect();
        let mut want = vec![
            NFT_MSG_NEWTABLE,
            NFT_MSG_NEWCHAIN,
            NFT_MSG_NEWOBJ,
            NFT_MSG_NEWOBJ,
        ];
        want.extend([NFT_MSG_NEWRULE; 8]);
        assert_eq!(types, want);
        let flags = |i: usize| msgs[i].1 & !(NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(flags(1), NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(flags(2), NLM_F_CREATE);
        assert_eq!(flags(5), NLM_F_CREATE | NLM_F_APPEND);
        // the table message: its name and flags 0
        assert_eq!(
            msgs[1].3[4..],
            unhex("130001006861726472756e5f65677265737300000800020000000000")[..]
        );
    }

    #[test]
    fn chain_counters_and_rules_are_the_bytes_nft_sends() {
        let b = create_batch(&sample(), "hardrun_egress", 0).unwrap();
        let msgs = messages(&b.bytes);
        let ours: Vec<&[u8]> = msgs[2..msgs.len() - 1].iter().map(|m| &m.3[..]).collect();
        assert_eq!(ours.len(), NFT_BODIES.len());
        for (i, (ours, nft)) in ours.iter().zip(NFT_BODIES).enumerate() {
            assert_eq!(
                *ours,
                &unhex(nft)[..],
                "message {} differs from nft's",
                i + 2
            );
        }
    }

    #[test]
    fn only_ports_of_both_protocols_and_comments_nft_refuses_have_no_batch() {
        for addr in ["10.0.0.0/8", "fd00::/8"] {
            for ports in [None, Some((53, 53)), Some((1000, 2000))] {
                for proto in [Proto::Tcp, Proto::Udp, Proto::Both] {
                    let mut e = entry(addr);
                    (e.ports, e.proto) = (ports, proto);
                    for accept in [true, false] {
                        let t = Table {
                            counters: vec![],
                            rules: vec![rule(Match::Dest(e.clone()), None, accept)],
                        };
                        let none = ports.is_some() && proto == Proto::Both;
                        let b = create_batch(&t, "t", 1);
                        assert_eq!(b.is_none(), none, "{e} {proto:?}");
                    }
                }
            }
        }
        for m in [Match::All, Match::EstablishedRelated, Match::OifLo] {
            let t = Table {
                counters: vec![],
                rules: vec![rule(m, None, false)],
            };
            assert!(create_batch(&t, "t", 1).is_some());
        }
        // nft takes a comment of at most 128 bytes (not characters)
        let comment = |c: String| Table {
            counters: vec![("c".into(), c)],
            rules: vec![],
        };
        assert!(create_batch(&comment("é".repeat(64)), "t", 1).is_some());
        assert!(create_batch(&comment("é".repeat(64) + "a"), "t", 1).is_none());
        assert!(create_batch(&comment("a".repeat(128)), "t", 1).is_some());
    }

    #[test]
    fn prefixes_load_whole_bytes_or_mask_the_address() {
        let exprs = |s: &str| rule_exprs(&rule(Match::Dest(entry(s)), None, true)).unwrap();
        let net = |offset, len| Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset,
            len,
        };
        let eq = |d: &[u8]| Expr::Cmp(NFT_CMP_EQ, d.to_vec());
        let e = exprs("10.0.0.0/8");
        assert_eq!(
            e[..4],
            [
                Expr::Meta(NFT_META_NFPROTO),
                eq(&[2]),
                net(16, 1),
                eq(&[10])
            ]
        );
        assert_eq!(
            exprs("192.168.1.0/24")[2..4],
            [net(16, 3), eq(&[192, 168, 1])]
        );
        assert_eq!(exprs("1.2.3.4/32")[2..4], [net(16, 4), eq(&[1, 2, 3, 4])]);
        let masked = |s: &str, offset, mask: &[u8], addr: &[u8]| {
            let bitwise = Expr::Bitwise {
                mask: mask.to_vec(),
                xor: vec![0; mask.len()],
            };
            let want = [net(offset, mask.len() as u32), bitwise, eq(addr)];
            assert_eq!(exprs(s)[2..5], want, "{s}");
        };
        masked("0.0.0.0/0", 16, &[0; 4], &[0; 4]);
        masked("172.16.0.0/12", 16, &[255, 240, 0, 0], &[172, 16, 0, 0]);
        masked("10.1.2.0/23", 16, &[255, 255, 254, 0], &[10, 1, 2, 0]);
        let mut m60 = [0u8; 16];
        m60[..7].fill(255);
        m60[7] = 0xf0;
        let mut a60 = [0u8; 16];
        a60[..2].copy_from_slice(&[0x20, 0x01]);
        a60[2..4].copy_from_slice(&[0x0d, 0xb8]);
        masked("2001:db8::/60", 24, &m60, &a60);
        masked("::/0", 24, &[0; 16], &[0; 16]);
        let v6 = exprs("fd00:ec2::254/128");
        assert_eq!(
            v6[..3],
            [Expr::Meta(NFT_META_NFPROTO), eq(&[10]), net(24, 16)]
        );
        // ports: l4proto, then dport
        let e = exprs("1.2.3.4/32:5-5/tcp");
        let dport = Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
        };
        let tail = [
            Expr::Meta(NFT_META_L4PROTO),
            eq(&[6]),
            dport.clone(),
            eq(&[0, 5]),
        ];
        assert_eq!(e[4..8], tail);
        let e = exprs("10.0.0.0/8:1000-2000/udp");
        let tail = [
            Expr::Meta(NFT_META_L4PROTO),
            eq(&[17]),
            dport,
            Expr::Cmp(NFT_CMP_GTE, vec![0x03, 0xe8]),
            Expr::Cmp(NFT_CMP_LTE, vec![0x07, 0xd0]),
            Expr::Verdict(NF_ACCEPT),
        ];
        assert_eq!(e[4..], tail);
    }
}
