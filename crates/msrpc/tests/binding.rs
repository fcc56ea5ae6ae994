//! String bindings: parse, compose, errors, and a compose→parse round-trip property.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use msrpc::binding::{BindingPart, BindingTarget, ProtocolSequence, StringBinding};
use msrpc_proto::status::Win32Status;
use proptest::prelude::*;
use uuid::Uuid;

fn parse(s: &str) -> StringBinding {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> (Win32Status, BindingPart) {
    let e = s
        .parse::<StringBinding>()
        .expect_err(&format!("{s:?} should be refused"));
    // Every error names the part and the status in its message.
    let msg = e.to_string();
    assert!(
        msg.contains(&e.status().0.to_string()),
        "message {msg:?} lacks the status"
    );
    (e.status(), e.part())
}

#[test]
fn tcp_with_endpoint() {
    let b = parse("ncacn_ip_tcp:127.0.0.1[8765]");
    assert_eq!(b.protseq(), ProtocolSequence::NcacnIpTcp);
    assert_eq!(b.network_addr(), "127.0.0.1");
    assert_eq!(b.endpoint(), Some("8765"));
    assert_eq!(b.object(), None);
    assert!(b.options().is_empty());
    assert_eq!(b.to_string(), "ncacn_ip_tcp:127.0.0.1[8765]");
    assert_eq!(
        b.target().unwrap(),
        BindingTarget::Tcp {
            host: "127.0.0.1".into(),
            port: Some(8765)
        }
    );
}

#[test]
fn tcp_without_endpoint_needs_the_endpoint_mapper() {
    let b = parse("ncacn_ip_tcp:host");
    assert_eq!(b.endpoint(), None);
    assert_eq!(b.to_string(), "ncacn_ip_tcp:host");
    assert_eq!(
        b.target().unwrap(),
        BindingTarget::Tcp {
            host: "host".into(),
            port: None
        }
    );
    // Empty brackets also mean no endpoint; an empty address is the local machine.
    let b = parse("ncacn_ip_tcp:[]");
    assert_eq!(b.endpoint(), None);
    assert_eq!(
        b.target().unwrap(),
        BindingTarget::Tcp {
            host: "127.0.0.1".into(),
            port: None
        }
    );
}

#[test]
fn object_uuid_prefix() {
    let b = parse("6B29FC40-CA47-1067-B31D-00DD010662DA@ncacn_ip_tcp:10.0.0.1[135]");
    assert_eq!(
        b.object(),
        Some(Uuid::parse_str("6b29fc40-ca47-1067-b31d-00dd010662da").unwrap())
    );
    assert_eq!(
        b.to_string(),
        "6b29fc40-ca47-1067-b31d-00dd010662da@ncacn_ip_tcp:10.0.0.1[135]"
    );
}

#[test]
fn endpoint_keyword_and_options() {
    let b = parse("ncacn_ip_tcp:h[endpoint=135,timeout=5,Security=x y]");
    assert_eq!(b.endpoint(), Some("135"));
    assert_eq!(b.option("timeout"), Some("5"));
    assert_eq!(b.option("security"), Some("x y"));
    assert_eq!(b.to_string(), "ncacn_ip_tcp:h[135,timeout=5,Security=x y]");
    // Options without an endpoint.
    let b = parse("ncacn_ip_tcp:h[,a=1]");
    assert_eq!(b.endpoint(), None);
    assert_eq!(b.options(), &[("a".to_owned(), "1".to_owned())]);
    assert_eq!(b.to_string(), "ncacn_ip_tcp:h[,a=1]");
}

#[test]
fn ipv6_is_written_without_brackets() {
    let b = parse("ncacn_ip_tcp:::1[135]");
    assert_eq!(b.network_addr(), "::1");
    assert_eq!(b.endpoint(), Some("135"));
    // Composed with the colons escaped, as RpcStringBindingCompose writes them; parses the same.
    assert_eq!(b.to_string(), r"ncacn_ip_tcp:\:\:1[135]");
    assert_eq!(parse(&b.to_string()), b);
    let b = parse("ncacn_ip_tcp:fe80::1%eth0[135]");
    assert_eq!(b.network_addr(), "fe80::1%eth0");
    // The URL style is refused with a hint.
    let e = "ncacn_ip_tcp:[::1][135]"
        .parse::<StringBinding>()
        .unwrap_err();
    assert_eq!(e.status(), Win32Status::RPC_S_INVALID_STRING_BINDING);
    assert!(e.to_string().contains("without brackets"), "{e}");
    assert_eq!(
        err("ncacn_ip_tcp:not:v6[135]"),
        (
            Win32Status::RPC_S_INVALID_NET_ADDR,
            BindingPart::NetworkAddr
        )
    );
}

#[test]
fn ncalrpc_names_and_paths() {
    let b = parse("ncalrpc:[myservice]");
    let BindingTarget::Lrpc(ep) = b.target().unwrap() else {
        panic!("not lrpc")
    };
    assert_eq!(ep.name(), Some("myservice"));
    assert_eq!(
        ep.socket_path_in(Path::new("/run/x")).unwrap(),
        Path::new("/run/x/myservice")
    );
    let b = parse("ncalrpc:[/tmp/some.sock]");
    let BindingTarget::Lrpc(ep) = b.target().unwrap() else {
        panic!("not lrpc")
    };
    assert_eq!(
        ep.socket_path_in(Path::new("/ignored")).unwrap(),
        Path::new("/tmp/some.sock")
    );
    assert!(ep.socket_path().is_some());
    for bad in [
        "ncalrpc:[a/b]",
        "ncalrpc:[..]",
        "ncalrpc:[.]",
        "ncalrpc:[/]",
    ] {
        assert_eq!(
            err(bad),
            (
                Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
                BindingPart::Endpoint
            ),
            "{bad}"
        );
    }
}

#[test]
fn named_pipes_parse_and_are_supported_with_the_feature() {
    let b = parse(r"ncacn_np:\\\\server[\\pipe\\lsarpc]");
    assert_eq!(b.protseq(), ProtocolSequence::NcacnNp);
    assert_eq!(b.network_addr(), r"\\server");
    assert_eq!(b.endpoint(), Some(r"\pipe\lsarpc"));
    assert_eq!(b.to_string(), r"ncacn_np:\\\\server[\\pipe\\lsarpc]");
    if cfg!(feature = "ncacn-np") {
        assert!(ProtocolSequence::NcacnNp.is_supported());
        assert_eq!(
            b.target().unwrap(),
            BindingTarget::Np {
                host: "server".into(),
                pipe: Some("lsarpc".into())
            }
        );
    } else {
        let e = b.target().unwrap_err();
        assert_eq!(e.status(), Win32Status::RPC_S_PROTSEQ_NOT_SUPPORTED);
        assert_eq!(e.part(), BindingPart::ProtocolSequence);
        assert!(!ProtocolSequence::NcacnNp.is_supported());
    }
    assert_eq!(
        parse("ncacn_spx:x").protseq(),
        ProtocolSequence::Retired("ncacn_spx")
    );
}

#[test]
fn pipe_endpoints_as_a_shell_user_types_them() {
    // Single backslashes (a backslash before an ordinary character stands for itself) and the
    // composed, escaped form give the same endpoint.
    let typed = parse(r"ncacn_np:127.0.0.1[\pipe\srvsvc]");
    let composed = parse(r"ncacn_np:127.0.0.1[\\pipe\\srvsvc]");
    assert_eq!(typed.endpoint(), Some(r"\pipe\srvsvc"));
    assert_eq!(typed, composed);
    assert_eq!(typed.to_string(), r"ncacn_np:127.0.0.1[\\pipe\\srvsvc]");
    // The prefix in any case; the name kept as written.
    assert_eq!(
        msrpc::binding::pipe_name(parse(r"ncacn_np:h[\PIPE\SrvSvc]").endpoint().unwrap()),
        Some("SrvSvc")
    );
    // Escapes of special characters still work: `\]` inside the endpoint.
    assert_eq!(
        parse(r"ncacn_np:h[\pipe\a\]b]").endpoint(),
        Some(r"\pipe\a]b")
    );
    for bad in [
        r"ncacn_np:h[srvsvc]",
        r"ncacn_np:h[\\pipe\\]",
        r"ncacn_np:h[\pip\x]",
    ] {
        let e = bad.parse::<StringBinding>().unwrap_err();
        assert_eq!(
            (e.status(), e.part()),
            (
                Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT,
                BindingPart::Endpoint
            ),
            "{bad}"
        );
    }
    if cfg!(feature = "ncacn-np") {
        // No endpoint: the endpoint mapper resolves it; an empty host is this machine.
        assert_eq!(
            parse("ncacn_np:").target().unwrap(),
            BindingTarget::Np {
                host: "127.0.0.1".into(),
                pipe: None
            }
        );
    }
}

#[test]
fn protseq_is_case_insensitive_and_composed_lower_case() {
    let b = parse("NCACN_IP_TCP:h[1]");
    assert_eq!(b.protseq(), ProtocolSequence::NcacnIpTcp);
    assert_eq!(b.to_string(), "ncacn_ip_tcp:h[1]");
}

#[test]
fn errors_name_the_bad_part_and_map_to_win32() {
    use BindingPart as P;
    use Win32Status as S;
    let cases: &[(&str, Win32Status, BindingPart)] = &[
        ("ncacn_ip_tcp", S::RPC_S_INVALID_STRING_BINDING, P::Syntax),
        ("", S::RPC_S_INVALID_STRING_BINDING, P::Syntax),
        (":host", S::RPC_S_INVALID_RPC_PROTSEQ, P::ProtocolSequence),
        (
            "ncacn_foo:host",
            S::RPC_S_INVALID_RPC_PROTSEQ,
            P::ProtocolSequence,
        ),
        (
            "nope@ncacn_ip_tcp:h",
            S::RPC_S_INVALID_STRING_UUID,
            P::ObjectUuid,
        ),
        (
            "{6b29fc40-ca47-1067-b31d-00dd010662da}@ncacn_ip_tcp:h",
            S::RPC_S_INVALID_STRING_UUID,
            P::ObjectUuid,
        ),
        (
            "ncacn_ip_tcp:h[abc]",
            S::RPC_S_INVALID_ENDPOINT_FORMAT,
            P::Endpoint,
        ),
        (
            "ncacn_ip_tcp:h[65536]",
            S::RPC_S_INVALID_ENDPOINT_FORMAT,
            P::Endpoint,
        ),
        (
            "ncacn_ip_tcp:h[-1]",
            S::RPC_S_INVALID_ENDPOINT_FORMAT,
            P::Endpoint,
        ),
        (
            "ncacn_ip_tcp:h[135",
            S::RPC_S_INVALID_STRING_BINDING,
            P::Syntax,
        ),
        (
            "ncacn_ip_tcp:h[135]x",
            S::RPC_S_INVALID_STRING_BINDING,
            P::Syntax,
        ),
        (
            "ncacn_ip_tcp:h[1,2]",
            S::RPC_S_INVALID_STRING_BINDING,
            P::Syntax,
        ),
        (
            "ncacn_ip_tcp:h[1,=2]",
            S::RPC_S_INVALID_STRING_BINDING,
            P::Option,
        ),
        (
            "ncacn_ip_tcp:h\\",
            S::RPC_S_INVALID_STRING_BINDING,
            P::NetworkAddr,
        ),
        (
            "ncacn_ip_tcp:h\0",
            S::RPC_S_INVALID_STRING_BINDING,
            P::Syntax,
        ),
    ];
    for (s, status, part) in cases {
        assert_eq!(err(s), (*status, *part), "{s:?}");
    }
    let e = "ncacn_ip_tcp:h[abc]".parse::<StringBinding>().unwrap_err();
    assert_eq!(e.text(), "abc");
    assert_eq!(Win32Status::from(e), Win32Status(1706));
}

#[test]
fn compose_checks_like_parse() {
    let b = StringBinding::compose(None, "ncacn_ip_tcp", "h", Some("135"), &[("a", "b")]).unwrap();
    assert_eq!(b.to_string(), "ncacn_ip_tcp:h[135,a=b]");
    let e = StringBinding::compose(None, "ncacn_ip_tcp", "h", Some("x"), &[]).unwrap_err();
    assert_eq!(e.status(), Win32Status::RPC_S_INVALID_ENDPOINT_FORMAT);
    let e = StringBinding::compose(None, "bogus", "h", None, &[]).unwrap_err();
    assert_eq!(e.status(), Win32Status::RPC_S_INVALID_RPC_PROTSEQ);
}

#[test]
fn special_characters_are_escaped() {
    let b = StringBinding::new(ProtocolSequence::NcacnHttp, "a@b:c[d]e\\f")
        .with_endpoint("x,y=z]")
        .with_option("k,=", "v,w=[]");
    let s = b.to_string();
    assert_eq!(s, r"ncacn_http:a\@b\:c\[d\]e\\f[x\,y\=z\],k\,\==v\,w=\[\]]");
    assert_eq!(parse(&s), b);
}

fn field() -> impl Strategy<Value = String> {
    // Printable ASCII and a little Unicode, including every special character.
    proptest::string::string_regex(r"[ -~é€]{0,12}").unwrap()
}

fn binding() -> impl Strategy<Value = StringBinding> {
    let any_protseq = prop_oneof![
        Just(ProtocolSequence::NcacnNp),
        Just(ProtocolSequence::NcacnHttp),
        Just(ProtocolSequence::NcadgIpUdp),
    ];
    let free = (
        any_protseq,
        field(),
        proptest::option::of(field()),
        proptest::collection::vec(
            (
                field().prop_filter("named", |k| {
                    !k.is_empty() && !k.eq_ignore_ascii_case("endpoint")
                }),
                field(),
            ),
            0..3,
        ),
    )
        .prop_map(|(p, addr, ep, opts)| {
            let mut b = StringBinding::new(p, addr);
            if let Some(ep) = ep {
                b = b.with_endpoint(ep);
            }
            for (k, v) in opts {
                b = b.with_option(k, v);
            }
            b
        });
    let tcp = (
        prop_oneof![
            Just(String::new()),
            Just("::1".to_owned()),
            "[a-z0-9.-]{1,20}"
        ],
        proptest::option::of(any::<u16>()),
    )
        .prop_map(|(host, port)| {
            let b = StringBinding::new(ProtocolSequence::NcacnIpTcp, host);
            match port {
                Some(p) => b.with_endpoint(p.to_string()),
                None => b,
            }
        });
    let lrpc = prop_oneof!["[a-zA-Z0-9_.-]{3,16}", "/[a-z/]{1,20}"]
        .prop_map(|ep| StringBinding::new(ProtocolSequence::Ncalrpc, "").with_endpoint(ep));
    (
        prop_oneof![free, tcp, lrpc],
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(|(b, obj)| match obj {
            Some(bytes) => b.with_object(Uuid::from_bytes(bytes)),
            None => b,
        })
}

proptest! {
    #[test]
    fn compose_then_parse_round_trips(b in binding()) {
        prop_assume!(b.validate().is_ok());
        let text = b.to_string();
        let back: StringBinding = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn parse_never_panics(s in r"[ -~]{0,40}") {
        let _ = s.parse::<StringBinding>();
    }
}
