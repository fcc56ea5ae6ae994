//! Object UUIDs in requests (PFC_OBJECT_UUID) and managers per object type (`RpcObjectSetType`,
//! `RpcServerRegisterIf` with a manager type), and the DCE interface version rule.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use msrpc::server::{Dispatch, IncomingCall, Interface, Server};
use msrpc::{Binding, Error, FaultStatus, SyntaxId, Win32Status};

const IFACE: SyntaxId = SyntaxId::new(uuid::uuid!("5c8e3a10-7d2f-4b61-a0e4-9f1b2c3d4e5f"), 2, 3);
const TYPE_A: uuid::Uuid = uuid::uuid!("aaaaaaaa-0000-0000-0000-000000000001");
const TYPE_B: uuid::Uuid = uuid::uuid!("bbbbbbbb-0000-0000-0000-000000000002");
const OBJ_A: uuid::Uuid = uuid::uuid!("0b1ec700-0000-0000-0000-00000000000a");
const OBJ_B: uuid::Uuid = uuid::uuid!("0b1ec700-0000-0000-0000-00000000000b");
const OBJ_UNTYPED: uuid::Uuid = uuid::uuid!("0b1ec700-0000-0000-0000-0000000000ff");

/// Answers with one byte naming the manager, and echoes the object UUID it saw.
struct Manager(u8);

impl Interface for Manager {
    fn syntax(&self) -> SyntaxId {
        IFACE
    }
    fn name(&self) -> &str {
        "typed"
    }
    fn operation_count(&self) -> u16 {
        1
    }
    fn dispatch(&self, call: IncomingCall) -> Dispatch {
        let mut out = vec![self.0];
        out.extend_from_slice(call.info().object.unwrap_or_default().as_bytes());
        call.answer(out)
    }
}

async fn which(b: &Binding) -> Result<(u8, uuid::Uuid), Error> {
    let r = b.call(IFACE, 0, |_, _| Ok(Vec::new())).await?;
    Ok((r.stub[0], uuid::Uuid::from_slice(&r.stub[1..17]).unwrap()))
}

#[tokio::test]
async fn requests_go_to_the_manager_of_their_objects_type() {
    let server = Server::builder()
        .interface(Arc::new(Manager(0)))
        .interface_for_type(Arc::new(Manager(1)), TYPE_A)
        .object_type(OBJ_A, TYPE_A)
        .object_type(OBJ_B, TYPE_B)
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();

    // No object: the nil-type manager.
    let b = Binding::from_string(&text).unwrap();
    assert_eq!(which(&b).await.unwrap(), (0, uuid::Uuid::nil()));

    // An object of type A, given in the string binding: the type-A manager sees the object UUID.
    let b = Binding::from_string(&format!("{OBJ_A}@{text}")).unwrap();
    assert_eq!(which(&b).await.unwrap(), (1, OBJ_A));

    // An object without a type: the nil-type manager.
    b.set_object(Some(OBJ_UNTYPED));
    assert_eq!(which(&b).await.unwrap(), (0, OBJ_UNTYPED));

    // An object of a type no manager serves: nca_s_unsupported_type.
    b.set_object(Some(OBJ_B));
    match which(&b).await {
        Err(Error::Fault { status, .. }) => assert_eq!(status, FaultStatus::NCA_S_UNSUPPORTED_TYPE),
        other => panic!("{other:?}"),
    }

    // The object's type can change while the server runs.
    server.set_object_type(OBJ_B, TYPE_A);
    assert_eq!(which(&b).await.unwrap(), (1, OBJ_B));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn interface_versions_follow_the_dce_rule() {
    let server = Server::builder()
        .interface(Arc::new(Manager(0)))
        .listen("ncacn_ip_tcp:127.0.0.1[0]")
        .start()
        .await
        .unwrap();
    let text = server.bindings()[0].to_string();
    let b = Binding::from_string(&text).unwrap();
    // The server has 2.3: clients asking 2.0 .. 2.3 are served; 2.4 and 1.x and 3.x are not.
    for minor in 0..=3 {
        let v = SyntaxId::new(IFACE.uuid, 2, minor);
        assert!(
            b.call(v, 0, |_, _| Ok(Vec::new())).await.is_ok(),
            "2.{minor}"
        );
    }
    for (major, minor) in [(2, 4), (1, 0), (3, 0)] {
        let v = SyntaxId::new(IFACE.uuid, major, minor);
        let err = b.call(v, 0, |_, _| Ok(Vec::new())).await.unwrap_err();
        assert_eq!(
            err.status(),
            Win32Status::RPC_S_UNKNOWN_IF,
            "{major}.{minor}: {err}"
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
}
