//! String bindings, as the Windows RPC runtime writes and reads them.
//!
//! A string binding names a server: `[ObjectUUID@]ProtSeq:[NetworkAddr][[Endpoint][,Option=Value...]]`.
//! [`StringBinding`] is the parsed form (what `RpcStringBindingParse` returns), its
//! [`Display`](std::fmt::Display) is the composed form (what `RpcStringBindingCompose` writes), and
//! [`StringBinding::target`] is the step `RpcBindingFromStringBinding` takes: it checks that this
//! runtime can use the protocol sequence and gives a typed [`BindingTarget`].
//!
//! ```
//! use msrpc::binding::{BindingTarget, StringBinding};
//!
//! let b: StringBinding = "ncacn_ip_tcp:127.0.0.1[8765]".parse()?;
//! assert_eq!(b.network_addr(), "127.0.0.1");
//! assert_eq!(b.endpoint(), Some("8765"));
//! assert_eq!(b.to_string(), "ncacn_ip_tcp:127.0.0.1[8765]");
//! match b.target()? {
//!     BindingTarget::Tcp { host, port } => assert_eq!((host.as_str(), port), ("127.0.0.1", Some(8765))),
//!     _ => unreachable!(),
//! }
//! # Ok::<(), msrpc::binding::BindingError>(())
//! ```
//!
//! # Syntax
//!
//! - **Object UUID.** An optional `uuid@` prefix in the 36-character hyphenated form (no braces).
//!   Composed in lower case, as `UuidToString` writes it.
//! - **Protocol sequence.** Every name on Microsoft's "string binding" list is recognised
//!   (case-insensitively; composed in lower case). An unknown name is
//!   [`RPC_S_INVALID_RPC_PROTSEQ`](Win32Status::RPC_S_INVALID_RPC_PROTSEQ) (1704). A known name
//!   this runtime does not implement (`ncacn_http`, `ncadg_ip_udp`, ...; `ncacn_np` without the
//!   `ncacn-np` cargo feature) parses, as
//!   it does with `RpcStringBindingParse`, but [`StringBinding::target`] reports
//!   [`RPC_S_PROTSEQ_NOT_SUPPORTED`](Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED) (1703).
//! - **Network address.** Everything between the first unescaped `:` and the first unescaped `[`.
//!   Empty means the local machine.
//! - **Endpoint and options.** Inside `[...]`, items separated by `,`. An item without `=` is the
//!   endpoint, as is an item `endpoint=VALUE` (keyword case-insensitive); every other item is a
//!   network option `name=value`. At most one endpoint. Nothing may follow the closing `]`.
//!
//! # Escapes
//!
//! A backslash escapes the special character after it in every field, as in the Windows parser:
//! `\@`, `\:`, `\[`, `\]`, `\\`, `\,` and `\=` stand for the character. Before any other
//! character a backslash stands for itself, so the named-pipe endpoint a shell user types,
//! `ncacn_np:HOST[\pipe\srvsvc]`, is the endpoint `\pipe\srvsvc`, the same as the composed form
//! `ncacn_np:HOST[\\pipe\\srvsvc]`. Composing escapes `@`, `:`, `[`, `]` and `\` in every field, as
//! `RpcStringBindingCompose` does; so an `ncacn_np` endpoint `\pipe\lsarpc` is written
//! `\\pipe\\lsarpc`. Inside the brackets this module also escapes `,` and `=` (Windows leaves them
//! bare, which makes an endpoint or option containing them ambiguous); the Windows parser reads the
//! escaped form the same way, so composed strings still parse there.
//!
//! # IPv6 addresses
//!
//! Windows accepts IPv6 literals for `ncacn_ip_tcp` in the network-address field **without**
//! brackets: only the first unescaped `:` ends the protocol sequence, so `ncacn_ip_tcp:::1[135]`
//! and `ncacn_ip_tcp:fe80::1%3[135]` parse, and composing writes the colons escaped
//! (`ncacn_ip_tcp:\:\:1[135]`), which parses the same. The URL-style bracketed form
//! `ncacn_ip_tcp:[::1][135]` is not a Windows string binding (the first `[...]` is the endpoint
//! part); it is refused with [`RPC_S_INVALID_STRING_BINDING`](Win32Status::RPC_S_INVALID_STRING_BINDING)
//! and a message saying how to write it. An address containing `:` must be a valid IPv6 literal
//! (with an optional `%zone`), otherwise [`RPC_S_INVALID_NET_ADDR`](Win32Status::RPC_S_INVALID_NET_ADDR).
//!
//! # ncalrpc on Unix
//!
//! `ncalrpc` maps to a Unix domain socket. A plain endpoint name (`ncalrpc:[myservice]`) names the
//! socket file `NAME` inside the ncalrpc directory ([`ncalrpc_dir`]): `$MSRPC_NCALRPC_DIR` when set,
//! otherwise `$XDG_RUNTIME_DIR/msrpc-ncalrpc`, otherwise `/tmp/msrpc-ncalrpc`. An absolute endpoint
//! (`ncalrpc:[/run/my.sock]`) is used as the socket path itself. A name may not contain `/` or be
//! `.` or `..`. The network address of an `ncalrpc` binding is ignored, as on Windows.
//!
//! # Validation
//!
//! Parsing checks the endpoint format of the protocol sequences this runtime implements: an
//! `ncacn_ip_tcp` endpoint is a decimal port 0..=65535, an `ncalrpc` endpoint follows the rules
//! above, an `ncacn_np` endpoint is `\pipe\NAME` (the prefix in any case, `NAME` not empty);
//! otherwise [`RPC_S_INVALID_ENDPOINT_FORMAT`](Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT)
//! (1706). No field may contain NUL.

use std::env;
use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use msrpc_proto::status::Win32Status;
use uuid::Uuid;

/// A parsed string binding (`RpcStringBindingParse`); its `Display` composes it
/// (`RpcStringBindingCompose`), and parsing what it writes gives back an equal value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StringBinding {
    object: Option<Uuid>,
    protseq: ProtocolSequence,
    network_addr: String,
    endpoint: Option<String>,
    options: Vec<(String, String)>,
}

/// A protocol sequence from Microsoft's list of string-binding protocol sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolSequence {
    /// `ncacn_ip_tcp`: connection-oriented RPC over TCP. Supported.
    NcacnIpTcp,
    /// `ncalrpc`: local RPC; here a Unix domain socket. Supported.
    Ncalrpc,
    /// `ncacn_np`: connection-oriented RPC over SMB2/3 named pipes. Supported on the client with
    /// the `ncacn-np` cargo feature.
    NcacnNp,
    /// `ncacn_http`: RPC over HTTP. Recognised, not supported.
    NcacnHttp,
    /// `ncadg_ip_udp`: connectionless RPC over UDP. Recognised, not supported.
    NcadgIpUdp,
    /// `ncacn_hvsocket`: Hyper-V sockets. Recognised, not supported.
    NcacnHvsocket,
    /// A protocol sequence Windows has retired (`ncacn_nb_tcp`, `ncacn_spx`, `ncadg_ipx`, ...).
    /// Recognised, not supported. The string is the lower-case name.
    Retired(&'static str),
}

const RETIRED: &[&str] = &[
    "ncacn_nb_tcp",
    "ncacn_nb_ipx",
    "ncacn_nb_nb",
    "ncacn_spx",
    "ncacn_dnet_nsp",
    "ncacn_at_dsp",
    "ncacn_vns_spp",
    "ncadg_mq",
    "ncadg_ipx",
];

impl ProtocolSequence {
    /// The name as written in a string binding, such as `"ncacn_ip_tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NcacnIpTcp => "ncacn_ip_tcp",
            Self::Ncalrpc => "ncalrpc",
            Self::NcacnNp => "ncacn_np",
            Self::NcacnHttp => "ncacn_http",
            Self::NcadgIpUdp => "ncadg_ip_udp",
            Self::NcacnHvsocket => "ncacn_hvsocket",
            Self::Retired(name) => name,
        }
    }

    /// Looks a name up, ignoring ASCII case. `None` for a name not on the list.
    pub fn from_name(name: &str) -> Option<Self> {
        let known = [
            Self::NcacnIpTcp,
            Self::Ncalrpc,
            Self::NcacnNp,
            Self::NcacnHttp,
            Self::NcadgIpUdp,
            Self::NcacnHvsocket,
        ];
        known
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .or_else(|| {
                RETIRED
                    .iter()
                    .find(|r| r.eq_ignore_ascii_case(name))
                    .map(|r| Self::Retired(r))
            })
    }

    /// True for the protocol sequences this runtime can use: `ncacn_ip_tcp`, `ncalrpc`, and
    /// `ncacn_np` (client side) with the `ncacn-np` cargo feature.
    pub fn is_supported(self) -> bool {
        matches!(self, Self::NcacnIpTcp | Self::Ncalrpc)
            || (self == Self::NcacnNp && cfg!(feature = "ncacn-np"))
    }
}

impl fmt::Display for ProtocolSequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolSequence {
    type Err = BindingError;

    fn from_str(s: &str) -> Result<Self, BindingError> {
        Self::from_name(s).ok_or_else(|| {
            BindingError::new(
                Win32Status::RPC_S_INVALID_RPC_PROTSEQ,
                BindingPart::ProtocolSequence,
                s,
                "not a known protocol sequence",
            )
        })
    }
}

/// Where a binding leads, once its protocol sequence is known to be usable
/// (`RpcBindingFromStringBinding`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BindingTarget {
    /// `ncacn_ip_tcp`. An empty network address becomes `127.0.0.1`. `port` is `None` when the
    /// binding has no endpoint: the endpoint mapper must resolve it.
    Tcp {
        /// Host name or IP literal (IPv6 without brackets, possibly with a `%zone`).
        host: String,
        /// TCP port, or `None` to ask the endpoint mapper.
        port: Option<u16>,
    },
    /// `ncalrpc` over a Unix domain socket.
    Lrpc(LrpcEndpoint),
    /// `ncacn_np`: a named pipe on an SMB2/3 server (client side, `ncacn-np` feature). An empty
    /// network address becomes `127.0.0.1`, and a leading `\\` (`\\server`) is dropped.
    Np {
        /// Host name or IP literal of the SMB server.
        host: String,
        /// The pipe's name without the `\pipe\` prefix (`srvsvc`), or `None` when the binding
        /// has no endpoint: the endpoint mapper over `\pipe\epmapper` must resolve it.
        pipe: Option<String>,
    },
}

/// The pipe name of an `ncacn_np` endpoint `\pipe\NAME` (prefix in any ASCII case), or `None`.
pub fn pipe_name(endpoint: &str) -> Option<&str> {
    let prefix = endpoint.get(..6)?;
    let name = &endpoint[6..];
    (prefix.eq_ignore_ascii_case("\\pipe\\") && !name.is_empty()).then_some(name)
}

/// The endpoint of an `ncalrpc` binding; see the module docs for where its socket lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LrpcEndpoint {
    name: Option<String>,
}

impl LrpcEndpoint {
    /// The endpoint name as written (`None` when the binding has none; the endpoint mapper must
    /// resolve it).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The socket path in the default directory ([`ncalrpc_dir`]), or the absolute path the
    /// endpoint names. `None` without an endpoint.
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.socket_path_in(&ncalrpc_dir())
    }

    /// The socket path with `dir` as the ncalrpc directory (absolute endpoints ignore `dir`).
    pub fn socket_path_in(&self, dir: &Path) -> Option<PathBuf> {
        let name = self.name.as_deref()?;
        let path = Path::new(name);
        Some(if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(name)
        })
    }
}

/// The directory that holds the sockets of named `ncalrpc` endpoints: `$MSRPC_NCALRPC_DIR` when
/// set and non-empty, otherwise `$XDG_RUNTIME_DIR/msrpc-ncalrpc`, otherwise `/tmp/msrpc-ncalrpc`.
pub fn ncalrpc_dir() -> PathBuf {
    let var = |name: &str| env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("MSRPC_NCALRPC_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("msrpc-ncalrpc");
    }
    PathBuf::from("/tmp/msrpc-ncalrpc")
}

/// The part of a string binding an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BindingPart {
    /// The whole string (its structure: delimiters, brackets, escapes).
    Syntax,
    /// The object UUID before `@`.
    ObjectUuid,
    /// The protocol sequence.
    ProtocolSequence,
    /// The network address.
    NetworkAddr,
    /// The endpoint.
    Endpoint,
    /// A network option.
    Option,
}

impl BindingPart {
    fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "string binding",
            Self::ObjectUuid => "object UUID",
            Self::ProtocolSequence => "protocol sequence",
            Self::NetworkAddr => "network address",
            Self::Endpoint => "endpoint",
            Self::Option => "network option",
        }
    }
}

/// Why a string binding was refused: the Win32 status Windows gives for it, the part that is
/// wrong, that part's text and an explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingError {
    status: Win32Status,
    part: BindingPart,
    text: String,
    reason: String,
}

impl BindingError {
    fn new(status: Win32Status, part: BindingPart, text: &str, reason: impl Into<String>) -> Self {
        Self {
            status,
            part,
            text: text.to_owned(),
            reason: reason.into(),
        }
    }

    fn syntax(text: &str, reason: impl Into<String>) -> Self {
        Self::new(
            Win32Status::RPC_S_INVALID_STRING_BINDING,
            BindingPart::Syntax,
            text,
            reason,
        )
    }

    /// The Win32 status: 1700 `RPC_S_INVALID_STRING_BINDING`, 1703
    /// `RPC_S_PROTSEQ_NOT_SUPPORTED`, 1704 `RPC_S_INVALID_RPC_PROTSEQ`, 1705
    /// `RPC_S_INVALID_STRING_UUID`, 1706 `RPC_S_INVALID_ENDPOINT_FORMAT` or 1707
    /// `RPC_S_INVALID_NET_ADDR`.
    pub fn status(&self) -> Win32Status {
        self.status
    }

    /// The part of the binding that is wrong.
    pub fn part(&self) -> BindingPart {
        self.part
    }

    /// The text of that part (unescaped where it could be split out; the whole input for syntax
    /// errors).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} {})",
            self.without_status(),
            self.status.name().unwrap_or("status"),
            self.status.0
        )
    }
}

impl BindingError {
    /// The message without the status (for an error that names the status itself).
    pub(crate) fn without_status(&self) -> impl fmt::Display + '_ {
        struct Text<'a>(&'a BindingError);
        impl fmt::Display for Text<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let e = self.0;
                write!(f, "{} {:?}: {}", e.part.as_str(), e.text, e.reason)
            }
        }
        Text(self)
    }
}

impl std::error::Error for BindingError {}

impl From<BindingError> for Win32Status {
    fn from(e: BindingError) -> Self {
        e.status
    }
}

impl StringBinding {
    /// A binding with no object UUID, no endpoint and no options. `network_addr` may be empty
    /// (the local machine).
    pub fn new(protseq: ProtocolSequence, network_addr: impl Into<String>) -> Self {
        Self {
            object: None,
            protseq,
            network_addr: network_addr.into(),
            endpoint: None,
            options: Vec::new(),
        }
    }

    /// `RpcStringBindingCompose`: builds a binding from its fields and checks it as parsing would.
    /// An empty endpoint means none.
    pub fn compose(
        object: Option<Uuid>,
        protseq: &str,
        network_addr: &str,
        endpoint: Option<&str>,
        options: &[(&str, &str)],
    ) -> Result<Self, BindingError> {
        let protseq: ProtocolSequence = protseq.parse()?;
        let mut b = Self::new(protseq, network_addr);
        b.object = object;
        b.endpoint = endpoint.filter(|e| !e.is_empty()).map(str::to_owned);
        b.options = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        b.validate()?;
        Ok(b)
    }

    /// Sets the object UUID.
    pub fn with_object(mut self, object: Uuid) -> Self {
        self.object = Some(object);
        self
    }

    /// Sets the endpoint (an empty string means none). Not checked until [`StringBinding::validate`]
    /// or [`StringBinding::target`].
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let e = endpoint.into();
        self.endpoint = (!e.is_empty()).then_some(e);
        self
    }

    /// Appends a network option `name=value`.
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((name.into(), value.into()));
        self
    }

    /// The object UUID, if any.
    pub fn object(&self) -> Option<Uuid> {
        self.object
    }

    /// The protocol sequence.
    pub fn protseq(&self) -> ProtocolSequence {
        self.protseq
    }

    /// The network address, unescaped; empty for the local machine.
    pub fn network_addr(&self) -> &str {
        &self.network_addr
    }

    /// The endpoint, unescaped, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The network options in order, unescaped.
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// The value of the first option named `name` (ASCII case-insensitive).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks the fields as parsing does (see the module docs, "Validation").
    pub fn validate(&self) -> Result<(), BindingError> {
        let nul = |part, s: &str| {
            if s.contains('\0') {
                Err(BindingError::new(
                    Win32Status::RPC_S_INVALID_STRING_BINDING,
                    part,
                    s,
                    "contains NUL",
                ))
            } else {
                Ok(())
            }
        };
        nul(BindingPart::NetworkAddr, &self.network_addr)?;
        if let Some(e) = &self.endpoint {
            nul(BindingPart::Endpoint, e)?;
        }
        for (k, v) in &self.options {
            nul(BindingPart::Option, k)?;
            nul(BindingPart::Option, v)?;
            if k.is_empty() {
                return Err(BindingError::new(
                    Win32Status::RPC_S_INVALID_STRING_BINDING,
                    BindingPart::Option,
                    &format!("={v}"),
                    "option without a name",
                ));
            }
            if k.eq_ignore_ascii_case("endpoint") {
                return Err(BindingError::new(
                    Win32Status::RPC_S_INVALID_STRING_BINDING,
                    BindingPart::Option,
                    k,
                    "\"endpoint\" is the endpoint keyword, not an option name",
                ));
            }
        }
        match self.protseq {
            ProtocolSequence::NcacnIpTcp => {
                if let Some(e) = &self.endpoint {
                    parse_port(e)?;
                }
                if self.network_addr.contains(':') {
                    check_ipv6(&self.network_addr)?;
                }
            }
            ProtocolSequence::Ncalrpc => {
                if let Some(e) = &self.endpoint {
                    check_lrpc_name(e)?;
                }
            }
            ProtocolSequence::NcacnNp => {
                if let Some(e) = &self.endpoint
                    && pipe_name(e).is_none()
                {
                    return Err(BindingError::new(
                        Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
                        BindingPart::Endpoint,
                        e,
                        "an ncacn_np endpoint is \\pipe\\NAME, as in ncacn_np:HOST[\\pipe\\srvsvc]",
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `RpcBindingFromStringBinding`'s check: the typed target, or 1703
    /// `RPC_S_PROTSEQ_NOT_SUPPORTED` for a protocol sequence this runtime does not implement
    /// (such as `ncacn_np`).
    pub fn target(&self) -> Result<BindingTarget, BindingError> {
        self.validate()?;
        match self.protseq {
            ProtocolSequence::NcacnIpTcp => Ok(BindingTarget::Tcp {
                host: if self.network_addr.is_empty() {
                    "127.0.0.1".to_owned()
                } else {
                    self.network_addr.clone()
                },
                port: self.endpoint.as_deref().map(parse_port).transpose()?,
            }),
            ProtocolSequence::Ncalrpc => Ok(BindingTarget::Lrpc(LrpcEndpoint {
                name: self.endpoint.clone(),
            })),
            ProtocolSequence::NcacnNp if cfg!(feature = "ncacn-np") => {
                let host = self.network_addr.trim_start_matches('\\');
                Ok(BindingTarget::Np {
                    host: if host.is_empty() {
                        "127.0.0.1".to_owned()
                    } else {
                        host.to_owned()
                    },
                    pipe: self
                        .endpoint
                        .as_deref()
                        .and_then(pipe_name)
                        .map(str::to_owned),
                })
            }
            ProtocolSequence::NcacnNp => Err(BindingError::new(
                Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED,
                BindingPart::ProtocolSequence,
                "ncacn_np",
                "this build of msrpc has no named pipes: enable the ncacn-np cargo feature",
            )),
            other => Err(BindingError::new(
                Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED,
                BindingPart::ProtocolSequence,
                other.as_str(),
                "this runtime supports ncacn_ip_tcp, ncalrpc and (client side) ncacn_np",
            )),
        }
    }
}

fn parse_port(e: &str) -> Result<u16, BindingError> {
    let bad = |why: &str| {
        BindingError::new(
            Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
            BindingPart::Endpoint,
            e,
            why,
        )
    };
    if e.is_empty() || e.len() > 5 || !e.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("an ncacn_ip_tcp endpoint is a decimal TCP port"));
    }
    e.parse::<u16>()
        .map_err(|_| bad("TCP port out of range 0..=65535"))
}

fn check_ipv6(addr: &str) -> Result<(), BindingError> {
    let ip = addr.split_once('%').map_or(addr, |(ip, _)| ip);
    let zone_ok = addr
        .split_once('%')
        .is_none_or(|(_, z)| !z.is_empty() && z.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ip.parse::<Ipv6Addr>().is_ok() && zone_ok {
        Ok(())
    } else {
        Err(BindingError::new(
            Win32Status::RPC_S_INVALID_NET_ADDR,
            BindingPart::NetworkAddr,
            addr,
            "contains ':' but is not an IPv6 address",
        ))
    }
}

fn check_lrpc_name(e: &str) -> Result<(), BindingError> {
    let bad = |why: &str| {
        BindingError::new(
            Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
            BindingPart::Endpoint,
            e,
            why,
        )
    };
    if Path::new(e).is_absolute() {
        if e.len() > 1 {
            return Ok(());
        }
        return Err(bad("\"/\" is not a socket path"));
    }
    if e == "." || e == ".." {
        return Err(bad("an ncalrpc endpoint name may not be . or .."));
    }
    if e.contains('/') {
        return Err(bad(
            "an ncalrpc endpoint is a plain name or an absolute path, not a relative path",
        ));
    }
    Ok(())
}

/// Characters `RpcStringBindingCompose` escapes in every field.
const ESCAPED: &[char] = &['@', ':', '[', ']', '\\'];

/// Characters a backslash escapes when parsing: [`ESCAPED`] and the two this module also escapes
/// inside the brackets. Before any other character a backslash stands for itself.
const SPECIAL: &[char] = &['@', ':', '[', ']', '\\', ',', '='];

fn escape_into(out: &mut String, s: &str, extra: &[char]) {
    for c in s.chars() {
        if ESCAPED.contains(&c) || extra.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

impl fmt::Display for StringBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        if let Some(u) = self.object {
            out.push_str(&u.hyphenated().to_string());
            out.push('@');
        }
        out.push_str(self.protseq.as_str());
        out.push(':');
        escape_into(&mut out, &self.network_addr, &[]);
        if self.endpoint.is_some() || !self.options.is_empty() {
            out.push('[');
            if let Some(e) = &self.endpoint {
                escape_into(&mut out, e, &[',', '=']);
            }
            for (k, v) in &self.options {
                out.push(',');
                escape_into(&mut out, k, &[',', '=']);
                out.push('=');
                escape_into(&mut out, v, &[',']);
            }
            out.push(']');
        }
        f.write_str(&out)
    }
}

/// Byte index of the first unescaped `delim` in `s`.
fn find_unescaped(s: &str, delim: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == delim {
            return Some(i);
        }
    }
    None
}

/// Splits at every unescaped `delim`.
fn split_unescaped(s: &str, delim: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = find_unescaped(rest, delim) {
        parts.push(&rest[..i]);
        rest = &rest[i + delim.len_utf8()..];
    }
    parts.push(rest);
    parts
}

fn unescape(s: &str, part: BindingPart) -> Result<String, BindingError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) if SPECIAL.contains(&n) => out.push(n),
                // A backslash before an ordinary character is itself: `[\pipe\srvsvc]` as a
                // shell user types it is the endpoint `\pipe\srvsvc`.
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => {
                    return Err(BindingError::new(
                        Win32Status::RPC_S_INVALID_STRING_BINDING,
                        part,
                        s,
                        "ends in a lone escape character '\\'",
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_uuid(s: &str) -> Result<Uuid, BindingError> {
    let bad = || {
        BindingError::new(
            Win32Status::RPC_S_INVALID_STRING_UUID,
            BindingPart::ObjectUuid,
            s,
            "expected a UUID such as 6b29fc40-ca47-1067-b31d-00dd010662da",
        )
    };
    let b = s.as_bytes();
    let shape_ok = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    Uuid::parse_str(s).map_err(|_| bad())
}

impl FromStr for StringBinding {
    type Err = BindingError;

    /// `RpcStringBindingParse`, plus the endpoint checks of the module docs.
    fn from_str(s: &str) -> Result<Self, BindingError> {
        if s.contains('\0') {
            return Err(BindingError::syntax(s, "contains NUL"));
        }
        let Some(colon) = find_unescaped(s, ':') else {
            return Err(BindingError::syntax(
                s,
                "expected PROTSEQ:ADDRESS, such as ncacn_ip_tcp:127.0.0.1[135]; no ':' found",
            ));
        };
        let (head, rest) = (&s[..colon], &s[colon + 1..]);
        let (object, protseq_text) = match find_unescaped(head, '@') {
            Some(at) => {
                let u = unescape(&head[..at], BindingPart::ObjectUuid)?;
                (Some(parse_uuid(&u)?), &head[at + 1..])
            }
            None => (None, head),
        };
        let protseq_text = unescape(protseq_text, BindingPart::ProtocolSequence)?;
        if protseq_text.is_empty() {
            return Err(BindingError::new(
                Win32Status::RPC_S_INVALID_RPC_PROTSEQ,
                BindingPart::ProtocolSequence,
                "",
                "missing protocol sequence before ':'",
            ));
        }
        let protseq: ProtocolSequence = protseq_text.parse()?;

        let (addr_text, bracket) = match find_unescaped(rest, '[') {
            Some(open) => (&rest[..open], Some(&rest[open + 1..])),
            None => (rest, None),
        };
        let network_addr = unescape(addr_text, BindingPart::NetworkAddr)?;
        let mut b = StringBinding::new(protseq, network_addr);
        b.object = object;

        if let Some(inner) = bracket {
            let Some(close) = find_unescaped(inner, ']') else {
                return Err(BindingError::syntax(s, "'[' without a closing ']'"));
            };
            let trailing = &inner[close + 1..];
            if !trailing.is_empty() {
                let mut reason = format!("unexpected {trailing:?} after the closing ']'");
                if b.network_addr.is_empty() && inner[..close].contains(':') {
                    reason.push_str(
                        "; IPv6 addresses are written without brackets, \
                         as in ncacn_ip_tcp:::1[135]",
                    );
                }
                return Err(BindingError::syntax(s, reason));
            }
            for item in split_unescaped(&inner[..close], ',') {
                match find_unescaped(item, '=') {
                    None => {
                        let e = unescape(item, BindingPart::Endpoint)?;
                        set_endpoint(&mut b, e, s)?;
                    }
                    Some(eq) => {
                        let key = unescape(&item[..eq], BindingPart::Option)?;
                        let value = unescape(&item[eq + 1..], BindingPart::Option)?;
                        if key.eq_ignore_ascii_case("endpoint") {
                            set_endpoint(&mut b, value, s)?;
                        } else {
                            b.options.push((key, value));
                        }
                    }
                }
            }
        }
        b.validate()?;
        Ok(b)
    }
}

fn set_endpoint(b: &mut StringBinding, e: String, whole: &str) -> Result<(), BindingError> {
    if e.is_empty() {
        return Ok(());
    }
    if b.endpoint.is_some() {
        return Err(BindingError::syntax(
            whole,
            "more than one endpoint inside [...]",
        ));
    }
    b.endpoint = Some(e);
    Ok(())
}
