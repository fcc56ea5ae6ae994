#!/usr/bin/python3
"""Differential NDR: python3-samba's side of crates/msrpc-windows/tests/ndr_samba.rs.

Every case below builds, with Samba's own generated Python types (samba.dcerpc.<iface>), the
value the Rust test builds with msrpc-windows' generated types (from the Microsoft
specifications' IDL). Two modes:

  ndr_samba.py pack     prints "NAME HEX" for every case: Samba's NDR20 little-endian bytes
  ndr_samba.py check    reads "NAME HEX" lines (msrpc's bytes) on stdin; for each, Samba unpacks
                        them strictly (no trailing bytes), and the result must print (ndr_print)
                        exactly as Samba's own value does after its own pack/unpack round trip,
                        and Samba's re-pack of what it decoded must equal msrpc's bytes. Prints
                        "ok NAME" or "FAIL NAME: why" per line.

Conventions (what "the NDR of a value" means on each side):
  kind "struct": samba.ndr.ndr_pack of a top-level structure is NDR_SCALARS|NDR_BUFFERS: the
                 structure's head, then its deferred pointees, with referent ids numbered from
                 0x00020000 by 4 in the order the pointers are written. That is msrpc-ndr's
                 encode_all / Encoder::encode_param of the structure as a by-value top-level
                 parameter (no pointer to the structure itself is written).
  kind "in"/"out": ndr_pack_in / ndr_pack_out of an operation is exactly a request / response
                 stub body: msrpc's generated <Op>Request / <Op>Response encoded with Stub::encode.
                 Top-level [ref] pointers are not on the wire; top-level [unique] ones are.
"""
import sys

from samba.dcerpc import atsvc, lsa, misc, netlogon, samr, security, srvsvc, svcctl, winreg, wkssvc
from samba.ndr import (ndr_pack, ndr_pack_in, ndr_pack_out, ndr_print, ndr_print_in, ndr_print_out,
                       ndr_unpack, ndr_unpack_in, ndr_unpack_out)

HANDLE_UUID = "12345678-1234-abcd-ef00-0123456789ab"
DOMAIN_SID = "S-1-5-21-1111-2222-3333"


def handle(t=0):
    h = misc.policy_handle()
    h.handle_type = t
    h.uuid = misc.GUID(HANDLE_UUID)
    return h


def lstr(s):
    v = lsa.String()
    v.string = s
    return v


def lstr_large(s):
    v = lsa.StringLarge()
    v.string = s
    return v


def build(cls, **kw):
    v = cls()
    for k, x in kw.items():
        setattr(v, k, x)
    return v


# ---- srvsvc ---------------------------------------------------------------------------------

def share_info_1():
    return build(srvsvc.NetShareInfo1, name="IPC$", type=0x80000003, comment="IPC Service (é)")


def share_info_1_null():
    return build(srvsvc.NetShareInfo1, name="scratch", type=0, comment=None)


def share_getinfo_out(info):
    f = srvsvc.NetShareGetInfo()
    f.in_level = 1
    f.out_info = info  # a union is set as its arm; the switch is in_level
    f.result = 0
    return f


def server_info_101():
    return build(srvsvc.NetSrvInfo101, platform_id=500, server_name="NPSRV", version_major=6,
                 version_minor=1, server_type=0x9a03, comment="Samba 4")


def share_enum_out():
    c = build(srvsvc.NetShareCtr1, count=2, array=[share_info_1(), share_info_1_null()])
    f = srvsvc.NetShareEnumAll()
    f.out_info_ctr = build(srvsvc.NetShareInfoCtr, level=1, ctr=c)
    f.out_totalentries = 2
    f.out_resume_handle = 0
    f.result = 0
    return f


def share_enum_in():
    f = srvsvc.NetShareEnumAll()
    f.in_server_unc = "\\\\NPSRV"
    f.in_info_ctr = build(srvsvc.NetShareInfoCtr, level=1, ctr=build(srvsvc.NetShareCtr1, count=0, array=None))
    f.in_max_buffer = 0xFFFFFFFF
    f.in_resume_handle = 0
    return f


def server_getinfo_out():
    f = srvsvc.NetSrvGetInfo()
    f.in_level = 101
    f.out_info = server_info_101()
    f.result = 0
    return f


def remote_tod_out():
    f = srvsvc.NetRemoteTOD()
    f.out_info = build(srvsvc.NetRemoteTODInfo, elapsed=1700000000, msecs=123456, hours=22, mins=13,
                       secs=20, hunds=7, timezone=-60, tinterval=310, day=14, month=11, year=2023,
                       weekday=2)
    f.result = 0
    return f


# ---- wkssvc ---------------------------------------------------------------------------------

def wksta_info_100():
    return build(wkssvc.NetWkstaInfo100, platform_id=500, server_name="NPSRV", domain_name="MSRPCTEST",
                 version_major=10, version_minor=0)


def wksta_getinfo_in():
    f = wkssvc.NetWkstaGetInfo()
    f.in_server_name = "\\\\NPSRV"
    f.in_level = 100
    return f


def wksta_getinfo_out():
    f = wkssvc.NetWkstaGetInfo()
    f.in_level = 100
    f.out_info = wksta_info_100()
    f.result = 0
    return f


# ---- samr -----------------------------------------------------------------------------------

def connect5_in():
    f = samr.Connect5()
    f.in_system_name = "\\\\NPSRV"
    f.in_access_mask = 0x00000031
    f.in_level_in = 1
    f.in_info_in = build(samr.ConnectInfo1, client_version=3, supported_features=0)
    return f


def rid_with_attribute_array():
    return build(samr.RidWithAttributeArray, count=2,
                 rids=[build(samr.RidWithAttribute, rid=513, attributes=7),
                       build(samr.RidWithAttribute, rid=512, attributes=7)])


def lookup_domain_out():
    f = samr.LookupDomain()
    f.out_sid = security.dom_sid(DOMAIN_SID)
    f.result = 0
    return f


def enum_users_out():
    f = samr.EnumDomainUsers()
    f.out_resume_handle = 3
    f.out_sam = build(samr.SamArray, count=2, entries=[build(samr.SamEntry, idx=500, name=lstr("Administrator")),
                                                        build(samr.SamEntry, idx=1000, name=lstr("msrpc"))])
    f.out_num_entries = 2
    f.result = 0
    return f


def enum_users_in():
    f = samr.EnumDomainUsers()
    f.in_domain_handle = handle()
    f.in_resume_handle = 0
    f.in_acct_flags = 0x10
    f.in_max_size = 0xFFFF
    return f


def lookup_names_in():
    f = samr.LookupNames()
    f.in_domain_handle = handle()
    f.in_num_names = 2
    f.in_names = [lstr("msrpc"), lstr("Guest")]
    return f


def lookup_names_out():
    f = samr.LookupNames()
    f.out_rids = build(samr.Ids, count=2, ids=[1000, 501])
    f.out_types = build(samr.Ids, count=2, ids=[1, 1])
    f.result = 0
    return f


def query_user_info_out():
    f = samr.QueryUserInfo()
    f.in_level = 1
    f.out_info = build(samr.UserInfo1, account_name=lstr("msrpc"), full_name=lstr("M. S. RPC"),
                             primary_gid=513, description=lstr(""), comment=lstr("test user"))
    f.result = 0
    return f


def groups_for_user_out():
    f = samr.GetGroupsForUser()
    f.out_rids = rid_with_attribute_array()
    f.result = 0
    return f


# ---- lsarpc ---------------------------------------------------------------------------------

def ref_domain_list():
    return build(lsa.RefDomainList, count=2, max_size=32,
                 domains=[build(lsa.DomainInfo, name=lstr_large("NPSRV"), sid=security.dom_sid(DOMAIN_SID)),
                          build(lsa.DomainInfo, name=lstr_large("BUILTIN"), sid=security.dom_sid("S-1-5-32"))])


def open_policy2_in():
    f = lsa.OpenPolicy2()
    f.in_system_name = "\\"
    f.in_attr = build(lsa.ObjectAttribute, len=24, root_dir=None, object_name=None, attributes=0,
                      sec_desc=None,
                      sec_qos=build(lsa.QosInfo, len=12, impersonation_level=2, context_mode=1, effective_only=0))
    f.in_access_mask = 0x00000801
    return f


def lookup_sids_in():
    f = lsa.LookupSids()
    f.in_handle = handle()
    f.in_sids = build(lsa.SidArray, num_sids=2,
                      sids=[build(lsa.SidPtr, sid=security.dom_sid(DOMAIN_SID + "-500")),
                            build(lsa.SidPtr, sid=security.dom_sid("S-1-5-32-544"))])
    f.in_names = build(lsa.TransNameArray, count=0, names=None)
    f.in_level = 1
    f.in_count = 0
    return f


def lookup_sids_out():
    f = lsa.LookupSids()
    f.out_domains = ref_domain_list()
    f.out_names = build(lsa.TransNameArray, count=2,
                        names=[build(lsa.TranslatedName, sid_type=1, name=lstr("Administrator"), sid_index=0),
                               build(lsa.TranslatedName, sid_type=4, name=lstr("Administrators"), sid_index=1)])
    f.out_count = 2
    f.result = 0
    return f


def query_info_policy_out():
    f = lsa.QueryInfoPolicy()
    f.in_level = 5
    f.out_info = build(lsa.DomainInfo, name=lstr_large("NPSRV"), sid=security.dom_sid(DOMAIN_SID))
    f.result = 0
    return f


def lsa_close_out():
    f = lsa.Close()
    f.out_handle = misc.policy_handle()
    f.result = 0
    return f


# ---- winreg ---------------------------------------------------------------------------------

def open_key_in():
    f = winreg.OpenKey()
    f.in_parent_handle = handle()
    f.in_keyname = build(winreg.String, name="SOFTWARE\\Microsoft")
    f.in_options = 0
    f.in_access_mask = 0x02000000
    return f


def query_value_out():
    f = winreg.QueryValue()
    data = list("C:\\Windows\0".encode("utf-16-le"))
    f.out_type = 1
    f.out_data = data
    f.out_data_size = len(data)
    f.out_data_length = len(data)
    f.result = 0
    return f


def enum_key_in():
    f = winreg.EnumKey()
    f.in_handle = handle()
    f.in_enum_index = 3
    f.in_name = build(winreg.StringBuf, length=0, size=512, name=None)
    f.in_keyclass = build(winreg.StringBuf, length=0, size=0, name=None)
    f.in_last_changed_time = None
    return f


# ---- svcctl ---------------------------------------------------------------------------------

def service_status():
    return build(svcctl.SERVICE_STATUS, type=0x10, state=4, controls_accepted=1, win32_exit_code=0,
                 service_exit_code=0, check_point=0, wait_hint=0)


def query_service_status_out():
    f = svcctl.QueryServiceStatus()
    f.out_service_status = service_status()
    f.result = 0
    return f


def open_scmanager_in():
    f = svcctl.OpenSCManagerW()
    f.in_MachineName = "NPSRV"
    f.in_DatabaseName = None
    f.in_access_mask = 0x00000005
    return f


def query_service_config():
    return build(svcctl.QUERY_SERVICE_CONFIG, service_type=0x10, start_type=2, error_control=1,
                 executablepath="C:\\Windows\\svc.exe", loadordergroup="", tag_id=0, dependencies=None,
                 startname="LocalSystem", displayname="Remote Registry")


def enum_services_out():
    f = svcctl.EnumServicesStatusW()
    f.in_offered = 8
    f.out_service = [1, 2, 3, 4, 5, 6, 7, 8]
    f.out_needed = 8
    f.out_services_returned = 1
    f.out_resume_handle = None
    f.result = 0
    return f


# ---- netlogon -------------------------------------------------------------------------------

def dc_name_info():
    return build(netlogon.netr_DsRGetDCNameInfo, dc_unc="\\\\DC1", dc_address="\\\\127.0.0.1",
                 dc_address_type=1, domain_guid=misc.GUID(HANDLE_UUID), domain_name="samdom.example.com",
                 forest_name="samdom.example.com", dc_flags=0xe00013fd, dc_site_name="Default-First-Site-Name",
                 client_site_name=None)


def authenticator():
    return build(netlogon.netr_Authenticator, cred=build(netlogon.netr_Credential, data=[8, 7, 6, 5, 4, 3, 2, 1]),
                 timestamp=1700000000)


def req_challenge_in():
    f = netlogon.netr_ServerReqChallenge()
    f.in_server_name = "\\\\DC1"
    f.in_computer_name = "CLIENT1"
    f.in_credentials = build(netlogon.netr_Credential, data=[1, 2, 3, 4, 5, 6, 7, 8])
    return f


# ---- atsvc ----------------------------------------------------------------------------------

def at_info():
    return build(atsvc.JobInfo, job_time=3600000, days_of_month=0x40000001, days_of_week=0x7f, flags=0x11,
                 command="cmd /c echo hi")


def job_getinfo_out():
    f = atsvc.JobGetInfo()
    f.out_job_info = at_info()
    f.result = 0
    return f


def job_enum_out():
    f = atsvc.JobEnum()
    # Command null: the published IDL's AT_ENUM.Command has no [string] (see the Rust test).
    e = build(atsvc.JobEnumInfo, job_id=1, job_time=60000, days_of_month=0, days_of_week=1, flags=0,
              command=None)
    f.out_ctr = build(atsvc.enum_ctr, entries_read=1, first_entry=[e])
    f.out_total_entries = 1
    f.out_resume_handle = None
    f.result = 0
    return f


def job_enum_command_out():
    f = atsvc.JobEnum()
    e1 = build(atsvc.JobEnumInfo, job_id=1, job_time=3600000, days_of_month=0x40000001, days_of_week=0x7f,
               flags=0x11, command="cmd /c echo hi")
    e2 = build(atsvc.JobEnumInfo, job_id=7, job_time=0, days_of_month=0, days_of_week=1, flags=0, command=None)
    f.out_ctr = build(atsvc.enum_ctr, entries_read=2, first_entry=[e1, e2])
    f.out_total_entries = 2
    f.out_resume_handle = 7
    f.result = 0
    return f


CASES = {
    "dtyp.RPC_UNICODE_STRING": ("struct", lambda: lstr("Administrator")),
    "dtyp.RPC_UNICODE_STRING.empty": ("struct", lambda: lstr("")),
    "dtyp.RPC_UNICODE_STRING.null": ("struct", lambda: lstr(None)),
    "dtyp.RPC_UNICODE_STRING.large": ("struct", lambda: lstr_large("NPSRV")),
    "dtyp.context_handle": ("struct", lambda: handle(1)),
    "srvsvc.NetrShareGetInfo.out.1": ("out", lambda: share_getinfo_out(share_info_1())),
    "srvsvc.NetrShareGetInfo.out.1.null_remark": ("out", lambda: share_getinfo_out(share_info_1_null())),
    "srvsvc.SERVER_INFO_101": ("struct", server_info_101),
    "srvsvc.NetrShareEnum.in": ("in", share_enum_in),
    "srvsvc.NetrShareEnum.out": ("out", share_enum_out),
    "srvsvc.NetrServerGetInfo.out.101": ("out", server_getinfo_out),
    "srvsvc.NetrRemoteTOD.out": ("out", remote_tod_out),
    "wkssvc.NetrWkstaGetInfo.in": ("in", wksta_getinfo_in),
    "wkssvc.NetrWkstaGetInfo.out.100": ("out", wksta_getinfo_out),
    "samr.SamrConnect5.in": ("in", connect5_in),
    "samr.SAMPR_GET_GROUPS_BUFFER": ("struct", rid_with_attribute_array),
    "samr.SamrLookupDomainInSamServer.out": ("out", lookup_domain_out),
    "samr.SamrEnumerateUsersInDomain.in": ("in", enum_users_in),
    "samr.SamrEnumerateUsersInDomain.out": ("out", enum_users_out),
    "samr.SamrLookupNamesInDomain.in": ("in", lookup_names_in),
    "samr.SamrLookupNamesInDomain.out": ("out", lookup_names_out),
    "samr.SamrQueryInformationUser.out.1": ("out", query_user_info_out),
    "samr.SamrGetGroupsForUser.out": ("out", groups_for_user_out),
    "lsarpc.LSAPR_REFERENCED_DOMAIN_LIST": ("struct", ref_domain_list),
    "lsarpc.LsarOpenPolicy2.in": ("in", open_policy2_in),
    "lsarpc.LsarLookupSids.in": ("in", lookup_sids_in),
    "lsarpc.LsarLookupSids.out": ("out", lookup_sids_out),
    "lsarpc.LsarQueryInformationPolicy.out.5": ("out", query_info_policy_out),
    "lsarpc.LsarClose.out": ("out", lsa_close_out),
    "winreg.BaseRegOpenKey.in": ("in", open_key_in),
    "winreg.BaseRegQueryValue.out": ("out", query_value_out),
    "winreg.BaseRegEnumKey.in": ("in", enum_key_in),
    "svcctl.RQueryServiceStatus.out": ("out", query_service_status_out),
    "svcctl.ROpenSCManagerW.in": ("in", open_scmanager_in),
    "svcctl.QUERY_SERVICE_CONFIGW": ("struct", query_service_config),
    "svcctl.REnumServicesStatusW.out": ("out", enum_services_out),
    "netlogon.DOMAIN_CONTROLLER_INFOW": ("struct", dc_name_info),
    "netlogon.NetrServerReqChallenge.in": ("in", req_challenge_in),
    "netlogon.NETLOGON_AUTHENTICATOR": ("struct", authenticator),
    "atsvc.NetrJobGetInfo.out": ("out", job_getinfo_out),
    "atsvc.NetrJobEnum.out": ("out", job_enum_out),
    "atsvc.NetrJobEnum.out.command": ("out", job_enum_command_out),
}

PACK = {"struct": ndr_pack, "in": ndr_pack_in, "out": ndr_pack_out}
# Stubs are also compared in these (suffix "@TAG" on the name): NDR20 big-endian and NDR64.
VARIANTS = {"ndr20be": (True, False), "ndr64le": (False, True), "ndr64be": (True, True)}


def pack(kind, v, variant=None):
    if variant is None:
        return PACK[kind](v)
    be, n64 = VARIANTS[variant]
    return PACK[kind](v, bigendian=be, ndr64=n64)
PRINT = {"struct": ndr_print, "in": ndr_print_in, "out": ndr_print_out}


def unpack(kind, like, data, variant=None):
    be, n64 = VARIANTS[variant] if variant else (False, False)
    if kind == "struct":
        return ndr_unpack(type(like), data)
    fresh = type(like)()
    # Unions of the out direction need the [in] level their switch_is names.
    if hasattr(like, "in_level"):
        fresh.in_level = like.in_level
    if hasattr(like, "in_offered"):
        fresh.in_offered = like.in_offered
    if kind == "in":
        return ndr_unpack_in(fresh, data, bigendian=be, ndr64=n64)
    return ndr_unpack_out(fresh, data, bigendian=be, ndr64=n64)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "pack"
    if mode == "pack":
        for name, (kind, f) in CASES.items():
            print(name, pack(kind, f()).hex())
            if kind != "struct":
                for variant in VARIANTS:
                    print("%s@%s" % (name, variant), pack(kind, f(), variant).hex())
        return 0
    if mode != "check":
        print("usage: ndr_samba.py pack|check", file=sys.stderr)
        return 2
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        name, _, hx = line.partition(" ")
        base, _, variant = name.partition("@")
        if base not in CASES or (variant and variant not in VARIANTS):
            print("FAIL %s: no such case" % name)
            continue
        kind, f = CASES[base]
        variant = variant or None
        ours = bytes.fromhex(hx)
        try:
            mine = f()
            canonical = unpack(kind, mine, pack(kind, mine, variant), variant)
            got = unpack(kind, mine, ours, variant)
        except Exception as e:  # noqa: BLE001 - reported per case
            print("FAIL %s: samba cannot unpack msrpc's bytes: %s" % (name, e))
            continue
        if PRINT[kind](got) != PRINT[kind](canonical):
            print("FAIL %s: decodes to another value:\n%s\nexpected\n%s" % (name, PRINT[kind](got), PRINT[kind](canonical)))
            continue
        again = pack(kind, got, variant)
        if again != ours:
            print("FAIL %s: samba re-packs it as %s" % (name, again.hex()))
            continue
        print("ok", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
