//! Wireshark's DCE/RPC dissector (an independent implementation) reads every PDU our machines
//! emit without a malformed-packet or warning-level expert note. Needs `text2pcap` and `tshark`,
//! so it is ignored by a plain `cargo test`; `./scripts/test` installs them and runs it with
//! `--include-ignored`, and missing tools then fail it.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use msrpc_proto::{
    ClientConfig, ClientConnection, Execution, FaultStatus, ServerConfig, ServerConnection,
    ServerEvent, StaticRegistry, SyntaxId,
};
use uuid::uuid;

// Interfaces Wireshark has no stub dissector for, so only the PDU layer is judged.
const EPM: SyntaxId = SyntaxId::new(uuid!("7f6c4340-eb67-11d1-b9d7-00c04fad9a3b"), 1, 0);
const MGMT: SyntaxId = SyntaxId::new(uuid!("0a0b0c0d-1111-2222-3333-444455556666"), 2, 1);
const UNKNOWN: SyntaxId = SyntaxId::new(uuid!("11111111-2222-3333-4444-555555555555"), 1, 0);

/// Runs a conversation touching every PDU type; returns (outbound-from-client, bytes) pairs.
fn conversation() -> Vec<(bool, Vec<u8>)> {
    let registry = Arc::new(StaticRegistry::new(vec![
        (EPM, vec![SyntaxId::NDR20, SyntaxId::NDR64]),
        (MGMT, vec![SyntaxId::NDR20]),
    ]));
    let mut sc = ServerConfig::default();
    sc.sec_addr = "135".into();
    sc.max_xmit_frag = 1000;
    let mut server = ServerConnection::new(sc, registry);
    let mut cc = ClientConfig::default();
    cc.transfer_syntaxes = vec![SyntaxId::NDR20, SyntaxId::NDR64];
    cc.max_xmit_frag = 1000;
    let mut client = ClientConnection::new(cc);
    let now = Instant::now();
    let mut log = Vec::new();
    fn pump(
        client: &mut ClientConnection,
        server: &mut ServerConnection,
        log: &mut Vec<(bool, Vec<u8>)>,
        now: Instant,
    ) {
        loop {
            let mut moved = false;
            while let Some(p) = client.poll_transmit() {
                server.handle_bytes(now, &p);
                log.push((true, p));
                moved = true;
            }
            while let Some(ev) = server.poll_event() {
                if let ServerEvent::Call(c) = ev {
                    match c.opnum {
                        9 => server
                            .fault(
                                c.call_id,
                                FaultStatus::NCA_S_OP_RNG_ERROR,
                                Execution::DidNotExecute,
                            )
                            .unwrap(),
                        8 => {}
                        _ => server.respond(c.call_id, c.stub).unwrap(),
                    }
                }
            }
            while let Some(p) = server.poll_transmit() {
                client.handle_bytes(now, &p);
                log.push((false, p));
                moved = true;
            }
            while client.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    }
    client.bind(&[EPM, UNKNOWN]).unwrap();
    pump(&mut client, &mut server, &mut log, now);
    client.alter_context(&[MGMT]).unwrap();
    pump(&mut client, &mut server, &mut log, now);
    let epm = client.context_for(&EPM).unwrap().context_id;
    let stub: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    client.start_call(epm, 1, None, Bytes::from(stub)).unwrap();
    let obj = uuid!("01234567-89ab-cdef-0123-456789abcdef");
    client
        .start_call(epm, 2, Some(obj), Bytes::from_static(&[0; 16]))
        .unwrap();
    client
        .start_call(epm, 9, None, Bytes::from_static(&[0; 8]))
        .unwrap();
    let slow = client
        .start_call(epm, 8, None, Bytes::from_static(&[0; 8]))
        .unwrap();
    pump(&mut client, &mut server, &mut log, now);
    client.cancel(slow).unwrap();
    pump(&mut client, &mut server, &mut log, now);
    let big = client
        .start_call(epm, 1, None, Bytes::from(vec![7u8; 5000]))
        .unwrap();
    let p = client.poll_transmit().unwrap();
    server.handle_bytes(now, &p);
    log.push((true, p));
    client.orphan(big).unwrap();
    pump(&mut client, &mut server, &mut log, now);
    server.shutdown();
    pump(&mut client, &mut server, &mut log, now);

    // A second connection: a bind the server refuses with bind_nak (wrong version).
    let registry = Arc::new(StaticRegistry::new(vec![(EPM, vec![SyntaxId::NDR20])]));
    let mut server = ServerConnection::new(ServerConfig::default(), registry);
    let mut c2 = ClientConnection::new(ClientConfig::default());
    c2.bind(&[EPM]).unwrap();
    let mut b = c2.poll_transmit().unwrap();
    b[1] = 7;
    server.handle_bytes(now, &b);
    while let Some(p) = server.poll_transmit() {
        log.push((false, p));
    }
    log
}

fn od(log: &[(bool, Vec<u8>)]) -> String {
    let mut s = String::new();
    for (out, pdu) in log {
        s.push_str(if *out { "O\n" } else { "I\n" });
        for (i, chunk) in pdu.chunks(16).enumerate() {
            write!(s, "{:06x}", i * 16).unwrap();
            for b in chunk {
                write!(s, " {b:02x}").unwrap();
            }
            s.push('\n');
        }
    }
    s
}

#[test]
#[ignore = "needs tshark: ./scripts/test installs it"]
fn wireshark_dissects_our_pdus_cleanly() {
    let have = |tool: &str| {
        Command::new(tool)
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        have("text2pcap") && have("tshark"),
        "text2pcap or tshark is not installed (./scripts/peers/install.sh installs them)"
    );
    let log = conversation();
    let dir = std::env::temp_dir().join(format!("msrpc-proto-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let txt = dir.join("pdus.txt");
    let pcap = dir.join("pdus.pcap");
    std::fs::write(&txt, od(&log)).unwrap();
    let t = Command::new("text2pcap")
        .args(["-q", "-D", "-T", "50000,135"])
        .arg(&txt)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let fields = Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args([
            "-d",
            "tcp.port==135,dcerpc",
            "-T",
            "fields",
            "-e",
            "dcerpc.pkt_type",
        ])
        .output()
        .unwrap();
    let types = String::from_utf8_lossy(&fields.stdout).to_string();
    let problems = Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args([
            "-d",
            "tcp.port==135,dcerpc",
            "-Y",
            // Wireshark flags every bind_nak with a "Bind not acknowledged" warning.
            "_ws.malformed || (_ws.expert.severity >= warning && dcerpc.pkt_type != 13)",
        ])
        .output()
        .unwrap();
    let bad = String::from_utf8_lossy(&problems.stdout).to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        bad.trim().is_empty(),
        "tshark found problems:\n{bad}\ntypes:\n{types}"
    );
    // Every PDU type of the conversation was dissected as DCE/RPC.
    for t in [
        "11", "12", "13", "14", "15", "0", "2", "3", "18", "19", "17",
    ] {
        assert!(
            types.lines().any(|l| l.split(',').any(|x| x == t)),
            "no PDU type {t} in:\n{types}"
        );
    }
}
